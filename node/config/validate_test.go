package config

import (
	"strings"
	"testing"
	"time"
)

// The range checks' messages are what an operator reads when the node
// refuses to start, and scripts may match them: the settings bounded by
// [lo, hi] are refused below and above the range in these exact words.
func TestOutOfRangeSettingsAreRefusedInTheseExactWords(t *testing.T) {
	verifier := func(c *Config) {
		c.Role = RoleVerifier
		c.Replica.Home, c.Replica.Token = "https://home.example", "t"
		c.NATS.Embedded, c.NATS.URLs = false, []string{"nats://a:4222"}
	}
	low := Default("440000")
	low.DataDir = "d"
	verifier(&low)
	low.Codes.MaxLive, low.NATS.Replicas = 0, 0
	low.Limits.BodyBytes, low.Limits.BulkBytes, low.Limits.BulkLineBytes = 1023, 1023, 255
	low.Limits.MaxConnections = 0
	low.Limits.ReplicaKeysWindow = 59 * time.Minute
	low.Tokens.OperatorLifetime = 59 * time.Minute
	low.Privacy.Retention.Appeals = 0
	low.Replica.Refresh, low.Replica.SendEvery = 99*time.Millisecond, 99*time.Millisecond
	high := Default("440000")
	high.DataDir = "d"
	verifier(&high)
	high.Codes.MaxLive, high.NATS.Replicas = MaxLiveCodes+1, MaxNATSReplicas+1
	high.Limits.BodyBytes, high.Limits.BulkBytes, high.Limits.BulkLineBytes = 1<<20+1, 16<<30+1, 64<<10+1
	high.Limits.MaxConnections = MaxMaxConnections + 1
	high.Limits.ReplicaKeysWindow = MaxReplicaKeysWindow + time.Second
	high.Tokens.OperatorLifetime = MaxOperatorLifetime + time.Second
	high.Privacy.Retention.Appeals = MaxAppealRetention + time.Second
	high.Replica.Refresh, high.Replica.SendEvery = time.Minute+time.Millisecond, time.Minute+time.Millisecond
	high.Replica.MaxStale = 2 * high.Replica.Refresh
	for name, tc := range map[string]struct {
		c    Config
		want []string
	}{
		"low": {low, []string{
			"config: codes.max_live: 0 must be within [1, 3000]",
			"config: nats.replicas: 0 must be within [1, 5]",
			"config: privacy.retention.appeals: 0s must be within (0, 2160h0m0s]: a resolved appeal's text is deleted after it",
			"config: limits.body_bytes: 1023 must be within [1024, 1048576]",
			"config: limits.bulk_bytes: 1023 must be within [1024, 17179869184]",
			"config: limits.bulk_line_bytes: 255 must be within [256, 65536]",
			"config: limits.max_connections: 0 must be within [1, 1048576]",
			"config: limits.replica_keys_window: 59m0s must be within [1h0m0s, 720h0m0s]",
			"config: tokens.operator_lifetime: 59m0s must be within [1h0m0s, 8760h0m0s]",
			"config: replica.refresh: 99ms must be within [100ms, 1m0s]",
			"config: replica.send_every: 99ms must be within [100ms, 1m0s]",
		}},
		"high": {high, []string{
			"config: codes.max_live: 3001 must be within [1, 3000]",
			"config: nats.replicas: 6 must be within [1, 5]",
			"config: privacy.retention.appeals: 2160h0m1s must be within (0, 2160h0m0s]: a resolved appeal's text is deleted after it",
			"config: limits.body_bytes: 1048577 must be within [1024, 1048576]",
			"config: limits.bulk_bytes: 17179869185 must be within [1024, 17179869184]",
			"config: limits.bulk_line_bytes: 65537 must be within [256, 65536]",
			"config: limits.max_connections: 1048577 must be within [1, 1048576]",
			"config: limits.replica_keys_window: 720h0m1s must be within [1h0m0s, 720h0m0s]",
			"config: tokens.operator_lifetime: 8760h0m1s must be within [1h0m0s, 8760h0m0s]",
			"config: replica.refresh: 1m0.001s must be within [100ms, 1m0s]",
			"config: replica.send_every: 1m0.001s must be within [100ms, 1m0s]",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Fatalf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestBadRetentionPeriodsAreReportedInAFixedOrder(t *testing.T) {
	want := "config: privacy.retention.subjects: 0s must be positive: every kind of record has a retention period\n" +
		"config: privacy.retention.codes: -1s must be positive: every kind of record has a retention period\n" +
		"config: privacy.retention.audit: 0s must be positive: every kind of record has a retention period"
	for range 20 { // a map's order would differ between some of these runs
		c := Default("110000")
		c.Privacy.Retention.Subjects, c.Privacy.Retention.Codes, c.Privacy.Retention.Audit = 0, -time.Second, 0
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Validate() = %v\nwant it to contain, in this order:\n%s", err, want)
		}
	}
}

// A listen address must be one a listener takes. A port out of range or
// a service name passed validation before, so `hcnode check` said "config
// is valid" and `serve` failed only when it tried to listen; the embedded
// NATS server's address was not checked at all. Every other refusal names
// the allowed values in a sentence.
func TestListenAddressesAndChoicesAreRefusedSayingWhatIsAllowed(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*Config)
		want   string
	}{
		"port out of range": {func(c *Config) { c.Listen = "127.0.0.1:99999" },
			`config: listen: "127.0.0.1:99999": the port must be a number within [0, 65535]`},
		"no port": {func(c *Config) { c.Listen = "localhost" },
			`config: listen: "localhost" must be a host and port such as 127.0.0.1:8080 (address localhost: missing port in address)`},
		"nats port by name": {func(c *Config) { c.NATS.Listen = "127.0.0.1:nats" },
			`config: nats.listen: "127.0.0.1:nats": the port must be a number within [0, 65535]`},
		"receipts":   {func(c *Config) { c.Privacy.Receipts = "yes" }, `config: privacy.receipts: "yes" must be send or off`},
		"log level":  {func(c *Config) { c.Log.Level = "verbose" }, `config: log.level: "verbose" must be one of debug, info, warn, error`},
		"log format": {func(c *Config) { c.Log.Format = "txt" }, `config: log.format: "txt" must be json or text`},
		"role":       {func(c *Config) { c.Role = "primary" }, `config: role: "primary" must be home or verifier`},
		"scanner rate": {func(c *Config) { c.Limits.ScannerRate = -5 },
			`config: limits.scanner_rate: -5 per second and limits.scanner_burst 20 must both be positive`},
	} {
		t.Run(name, func(t *testing.T) {
			c := Default("440000")
			c.DataDir = "d"
			tc.change(&c)
			err := c.Validate()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate() = %v\nwant %s", err, tc.want)
			}
		})
	}
	for _, ok := range []string{"127.0.0.1:0", "127.0.0.1:-1", "[::1]:4222"} {
		c := Default("440000")
		c.DataDir = "d"
		c.NATS.Listen = ok
		if err := c.Validate(); err != nil {
			t.Errorf("nats.listen %s: %v", ok, err)
		}
	}
	c := Default("440000")
	c.DataDir, c.NATS.Embedded, c.NATS.URLs, c.NATS.Listen = "d", false, []string{"nats://a:4222"}, "unused"
	if err := c.Validate(); err != nil {
		t.Errorf("nats.listen is not used by a node without an embedded server: %v", err)
	}
}

// The province name is shown on every page: a blank one, one with spaces
// around it or a control character in it, or an overlong one is refused,
// naming the setting. Empty is left to configs written before init
// required a name. Before, each was accepted.
func TestProvinceNameMustBeShowable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"Guangdong", true}, {"广东省", true}, {"", true},
		{"   ", false}, {" Guangdong", false}, {"Guang\tdong", false}, {"Guang\u0085dong", false},
		{strings.Repeat("广", MaxNameLen), true}, {strings.Repeat("广", MaxNameLen+1), false},
	} {
		c := Default("440000")
		c.DataDir, c.Name = "d", tc.name
		err := c.Validate()
		if refused := err != nil && strings.Contains(err.Error(), "config: name: "); refused == tc.ok {
			t.Errorf("name %q: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
