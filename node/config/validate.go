// Validation: every setting checked at start, each refusal naming the
// setting.

package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
)

// Validate reports every setting that cannot work, each naming its key,
// joined in the order the settings are checked.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", field, fmt.Sprintf(format, a...)))
	}
	if len(c.Province) != 6 || strings.Trim(c.Province, "0123456789") != "" {
		bad("province", "%q is not a six-digit GB/T 2260 code", c.Province)
	}
	if c.Federation == "" || strings.Trim(c.Federation, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || len(c.Federation) > 32 {
		bad("federation", "%q must be 1-32 of a-z, 0-9, -", c.Federation)
	}
	if c.Name != "" && (strings.TrimSpace(c.Name) != c.Name || strings.IndexFunc(c.Name, unicode.IsControl) >= 0 ||
		len([]rune(c.Name)) > MaxNameLen) {
		bad("name", "%q must be the province's name as the pages show it, such as Guangdong: at most %d characters, without control characters or spaces around it", c.Name, MaxNameLen)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "required")
	}
	c.validateListeners(bad)
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file go together")
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			bad("trusted_proxies", "%q is not a CIDR such as 10.0.0.0/8 or 127.0.0.1/32", p)
		}
	}
	if c.Codes.Lifetime <= 0 || c.Codes.Lifetime > 7*24*time.Hour {
		bad("codes.lifetime", "%v must be within (0, 168h]", c.Codes.Lifetime)
	}
	if c.Codes.PaperLifetime < c.Codes.Lifetime || c.Codes.PaperLifetime > 7*24*time.Hour {
		bad("codes.paper_lifetime", "%v must be within [codes.lifetime, 168h]", c.Codes.PaperLifetime)
	}
	within(bad, "codes.max_live", c.Codes.MaxLive, 1, MaxLiveCodes)
	if c.Codes.IssueCache < 0 || c.Codes.IssueCache > MaxIssueCache {
		bad("codes.issue_cache", "%d must be within [0, %d] (0 turns it off)", c.Codes.IssueCache, MaxIssueCache)
	}
	if c.Keys.Rotation < time.Hour {
		bad("keys.rotation", "%v is shorter than 1h", c.Keys.Rotation)
	}
	if c.Keys.PublishAhead <= 0 || c.Keys.PublishAhead >= c.Keys.Rotation {
		bad("keys.publish_ahead", "%v must be within (0, keys.rotation)", c.Keys.PublishAhead)
	}
	// Every content key that can still decrypt a live code is granted to
	// each peer in one statement; 6 h keeps that to about 30 keys.
	if c.Keys.ContentEpoch < 6*time.Hour {
		bad("keys.content_epoch", "%v is shorter than 6h", c.Keys.ContentEpoch)
	}
	if !c.NATS.Embedded && len(c.NATS.URLs) == 0 {
		bad("nats", "either embedded: true or urls")
	}
	if c.NATS.Embedded && len(c.NATS.URLs) > 0 {
		bad("nats.urls", "names NATS servers while nats.embedded is true (its default): the node would run a server of its own and never connect to them; "+
			"set nats.embedded: false to join the federation's servers, or remove urls")
	}
	within(bad, "nats.replicas", c.NATS.Replicas, 1, MaxNATSReplicas)
	if c.NATS.Isolation != "" && c.NATS.Isolation != "accounts" {
		bad("nats.isolation", "%q must be accounts or empty", c.NATS.Isolation)
	}
	if c.Trust.ListFile != "" && !isSHA256Hex(c.Trust.ListSHA256) {
		bad("trust.list_sha256", "%q is not 64 hex digits: trust.list_file needs the SHA-256 the federation operators gave you out of band "+
			"(as sha256sum and 'hcnode trust verify' print it)", c.Trust.ListSHA256)
	}
	if c.Trust.StaleLimit < 0 {
		bad("trust.stale_limit", "%v must not be negative (0 turns the check off)", c.Trust.StaleLimit)
	}
	if c.Trust.RevocationsMaxAge < MinRevocationsMaxAge || c.Trust.RevocationsMaxAge > MaxRevocationsMaxAge {
		bad("trust.revocations_max_age", "%v must be within [%v, %v]: it is how long this node keeps vouching for another province's codes "+
			"without hearing that it holds every revocation of that province (heartbeats come every 30s)",
			c.Trust.RevocationsMaxAge, MinRevocationsMaxAge, MaxRevocationsMaxAge)
	}
	for _, f := range c.Privacy.Collect {
		if f != "name" && f != "id_number" && f != "phone" {
			bad("privacy.collect", "unknown field %q: the fields are name, id_number and phone", f)
		}
	}
	for _, r := range []struct {
		name string
		d    time.Duration
	}{{"subjects", c.Privacy.Retention.Subjects}, {"codes", c.Privacy.Retention.Codes}, {"audit", c.Privacy.Retention.Audit}} {
		if r.d <= 0 {
			bad("privacy.retention."+r.name, "%v must be positive: every kind of record has a retention period", r.d)
		}
	}
	if c.Privacy.NoticeVersion == "" {
		bad("privacy.notice_version", "required")
	}
	if c.Privacy.Retention.Lookups <= 0 || c.Privacy.Retention.Lookups > MaxLookupRetention {
		bad("privacy.retention.lookups", "%v must be within (0, %v]", c.Privacy.Retention.Lookups, MaxLookupRetention)
	}
	if c.Privacy.Retention.Appeals <= 0 || c.Privacy.Retention.Appeals > MaxAppealRetention {
		bad("privacy.retention.appeals", "%v must be within (0, %v]: a resolved appeal's text is deleted after it", c.Privacy.Retention.Appeals, MaxAppealRetention)
	}
	if c.Privacy.Receipts != ReceiptsSend && c.Privacy.Receipts != ReceiptsOff {
		bad("privacy.receipts", "%q must be send or off", c.Privacy.Receipts)
	}
	if c.Privacy.ReceiptsEvery < time.Second || c.Privacy.ReceiptsEvery > 24*time.Hour {
		bad("privacy.receipts_every", "%v must be within [1s, 24h]", c.Privacy.ReceiptsEvery)
	}
	within(bad, "limits.body_bytes", c.Limits.BodyBytes, 1024, 1<<20)
	within(bad, "limits.bulk_bytes", c.Limits.BulkBytes, 1024, 16<<30)
	within(bad, "limits.bulk_line_bytes", c.Limits.BulkLineBytes, 256, 64<<10)
	within(bad, "limits.max_connections", c.Limits.MaxConnections, 1, MaxMaxConnections)
	within(bad, "limits.replica_keys_window", c.Limits.ReplicaKeysWindow, MinReplicaKeysWindow, MaxReplicaKeysWindow)
	if c.Limits.ScannerRate <= 0 || c.Limits.ScannerBurst < 1 {
		bad("limits.scanner_rate", "%v per second and limits.scanner_burst %d must both be positive", c.Limits.ScannerRate, c.Limits.ScannerBurst)
	}
	if c.Limits.ResidentRate <= 0 || c.Limits.ResidentRate > 1000 || c.Limits.ResidentBurst < 1 || c.Limits.ResidentBurst > 10000 {
		bad("limits.resident_rate", "rate must be within (0, 1000] per second and limits.resident_burst within [1, 10000]")
	}
	if c.Limits.OperatorReadRate <= 0 || c.Limits.OperatorReadRate > 1000 ||
		c.Limits.OperatorReadBurst < MinOperatorReadBurst || c.Limits.OperatorReadBurst > 100000 {
		bad("limits.operator_read_rate", "rate must be within (0, 1000] per second and limits.operator_read_burst within [%d, 100000]", MinOperatorReadBurst)
	}
	within(bad, "tokens.operator_lifetime", c.Tokens.OperatorLifetime, MinOperatorLifetime, MaxOperatorLifetime)
	c.validateRole(bad)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q must be one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "%q must be json or text", c.Log.Format)
	}
	return errors.Join(errs...)
}

// isSHA256Hex reports whether s is a SHA-256 in hex, as sha256sum prints it.
func isSHA256Hex(s string) bool {
	return len(s) == 64 && strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}

// within reports field unless lo <= v <= hi, in the words every such
// bound uses: "v must be within [lo, hi]".
func within[T int | int64 | time.Duration](bad func(field, format string, a ...any), field string, v, lo, hi T) {
	if v < lo || v > hi {
		bad(field, "%v must be within [%v, %v]", v, lo, hi)
	}
}
