package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node/config"
)

// Level is how one preflight check came out.
type Level string

// The levels of a Finding. A FAIL is what would stop the node at start,
// or keep it from serving once started (an expired trust list or TLS
// certificate); a warning is what will bite soon.
const (
	LevelOK   Level = "ok"
	LevelWarn Level = "warn"
	LevelFail Level = "FAIL"
)

// Finding is the outcome of one preflight check: one line of
// 'hcnode check'.
type Finding struct {
	Level  Level  `json:"level"`
	What   string `json:"what"`
	Detail string `json:"detail"`
}

// String is the finding as 'hcnode check' prints it:
// "FAIL  what: detail".
func (f Finding) String() string { return fmt.Sprintf("%-4s  %s: %s", f.Level, f.What, f.Detail) }

// Report is every finding of a preflight, in the order checked.
type Report []Finding

// Count is how many findings are at level l.
func (r Report) Count(l Level) int {
	n := 0
	for _, f := range r {
		if f.Level == l {
			n++
		}
	}
	return n
}

// Preflight limits and thresholds, in one place.
const (
	// natsCheckTimeout bounds the connection to an external NATS.
	natsCheckTimeout = 3 * time.Second
	// quickCheckTimeout bounds SQLite's quick_check; a larger database
	// is reported as not checked.
	quickCheckTimeout = 30 * time.Second
	// homeCheckTimeout bounds a verifier replica's request to its home
	// node (the replica's own bound is replica.refresh, at least 1 s).
	homeCheckTimeout = 3 * time.Second
	// certWarnBefore is how long before its expiry the TLS certificate
	// is warned about.
	certWarnBefore = 14 * 24 * time.Hour
)

// CheckOptions adjust a preflight.
type CheckOptions struct {
	Now func() time.Time
	// NATSTimeout bounds the connection to an external NATS; default
	// 3 seconds.
	NATSTimeout time.Duration
}

// Check is the preflight of the node configured in the file at path
// ('hcnode check'): it says whether 'hcnode serve' would start it and
// why not, and warns of what will bite soon. It starts nothing and
// changes no file: it opens the database read-only (store.OpenReadOnly),
// never takes the data directory's lock, and binds each listen address
// only to close it at once. It reuses what a start runs to load and
// refuse (config.Load, seal.LoadKEK, datadir.RequireNode, the trust
// state a start builds, node.CheckNotice, the TLS loader, bind), so that
// the two say the same. A node running on the data directory is
// reported, not refused.
func Check(ctx context.Context, path string, opt CheckOptions) Report {
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	c := &checker{now: now(), natsTimeout: cmp.Or(opt.NATSTimeout, natsCheckTimeout)}
	cfg, err := config.Load(path)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			// "config: SETTING: …" and "config FILE: …" under the
			// heading "config": its word once.
			line = strings.TrimPrefix(line, "config: ")
			c.fail("config", errors.New(strings.TrimPrefix(line, "config ")))
		}
		return c.report
	}
	c.cfg = cfg
	c.ok("config", path+" is valid")
	if changed, ok := config.SupersededNotices[cfg.Privacy.NoticeVersion]; ok {
		v := cfg.Privacy.NoticeVersion
		c.warn("privacy notice", fmt.Sprintf("privacy.notice_version %s is an earlier build's notice (%s): this build serves its own "+
			"as %s, and residents who consented to %s keep their consent. Set privacy.notice_version: %s",
			v, changed, config.NoticeVersion, v, config.NoticeVersion))
	}
	if cfg.IsVerifier() {
		c.warn("role", "verifier: this build checks a verifier replica's config, KEK, database, home node, listen address, TLS and NATS only")
		c.replicaKEK(ctx)
		c.replicaStore(ctx)
		c.replicaHome(ctx)
	} else if c.dataDir() {
		c.node(ctx)
	}
	c.tls()
	c.listen()
	c.nats(ctx)
	return c.report
}

// checker runs the checks of one preflight and collects their findings.
type checker struct {
	cfg         config.Config
	now         time.Time
	natsTimeout time.Duration
	running     bool   // a node holds the data directory
	replicaFP   string // a verifier replica's keys' fingerprint, once read
	report      Report
}

func (c *checker) add(l Level, what, detail string) {
	c.report = append(c.report, Finding{Level: l, What: what, Detail: detail})
}

func (c *checker) ok(what, detail string)   { c.add(LevelOK, what, detail) }
func (c *checker) warn(what, detail string) { c.add(LevelWarn, what, detail) }

// fail reports err, the error a start would stop with, on one line,
// without the prefix the finding already says ("tls: tls: ..." read
// twice).
func (c *checker) fail(what string, err error) {
	detail := strings.TrimPrefix(err.Error(), what+": ")
	c.add(LevelFail, what, strings.ReplaceAll(detail, "\n", "; "))
}

// day formats t for a finding.
func day(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// left says how long until t, in days or hours.
func left(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return d.Round(time.Minute).String()
}
