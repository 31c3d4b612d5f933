package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadAppliesDefaultsAndResolvesDataDir(t *testing.T) {
	p := write(t, "province: \"440000\"\ndata_dir: data\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Codes.Lifetime.Hours() != 24 || !c.NATS.Embedded || c.DataDir != filepath.Join(filepath.Dir(p), "data") {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.KEKPath() != filepath.Join(c.DataDir, "kek.key") {
		t.Fatalf("kek path %s", c.KEKPath())
	}
}

func TestLoadRejectsBadConfigNamingTheSetting(t *testing.T) {
	cases := map[string]string{
		"province":                 "province: \"44\"\ndata_dir: d\n",
		"unknown":                  "province: \"440000\"\ndata_dir: d\nprovnice: x\n",
		"codes.lifetime":           "province: \"440000\"\ndata_dir: d\ncodes:\n  lifetime: 900h\n",
		"keys.publish_ahead":       "province: \"440000\"\ndata_dir: d\nkeys:\n  rotation: 2h\n  publish_ahead: 3h\n",
		"privacy.collect":          "province: \"440000\"\ndata_dir: d\nprivacy:\n  collect: [name, birthday]\n",
		"limits.body_bytes":        "province: \"440000\"\ndata_dir: d\nlimits:\n  body_bytes: 10\n",
		"trust.list_sha256":        "province: \"440000\"\ndata_dir: d\ntrust:\n  list_file: t.json\n",
		"listen":                   "province: \"440000\"\ndata_dir: d\nlisten: nonsense\n",
		"federation":               "province: \"440000\"\ndata_dir: d\nfederation: \"Bad Fed\"\n",
		"nats":                     "province: \"440000\"\ndata_dir: d\nnats:\n  embedded: false\n",
		"log.level":                "province: \"440000\"\ndata_dir: d\nlog:\n  level: loud\n",
		"codes.paper_lifetime":     "province: \"440000\"\ndata_dir: d\ncodes:\n  paper_lifetime: 1h\n",
		"keys.content_epoch":       "province: \"440000\"\ndata_dir: d\nkeys:\n  content_epoch: 1h\n",
		"privacy.retention.audit":  "province: \"440000\"\ndata_dir: d\nprivacy:\n  retention:\n    audit: 0s\n",
		"tls":                      "province: \"440000\"\ndata_dir: d\ntls:\n  cert_file: c.pem\n",
		"trusted_proxies":          "province: \"440000\"\ndata_dir: d\ntrusted_proxies: [10.0.0.1]\n",
		"privacy.receipts":         "province: \"440000\"\ndata_dir: d\nprivacy:\n  receipts: \"yes\"\n",
		"privacy.receipts_every":   "province: \"440000\"\ndata_dir: d\nprivacy:\n  receipts_every: 48h\n",
		"limits.resident_rate":     "province: \"440000\"\ndata_dir: d\nlimits:\n  resident_rate: 2\n  resident_burst: 0\n",
		"codes.max_live":           "province: \"440000\"\ndata_dir: d\ncodes:\n  max_live: 0\n",
		"codes.issue_cache":        "province: \"440000\"\ndata_dir: d\ncodes:\n  issue_cache: -1\n",
		"tokens.operator_lifetime": "province: \"440000\"\ndata_dir: d\ntokens:\n  operator_lifetime: 30m\n",
		"limits.bulk_bytes":        "province: \"440000\"\ndata_dir: d\nlimits:\n  bulk_bytes: 10\n",
		"limits.bulk_line_bytes":   "province: \"440000\"\ndata_dir: d\nlimits:\n  bulk_line_bytes: 100000\n",
		"nats.replicas":            "province: \"440000\"\ndata_dir: d\nnats:\n  replicas: 6\n",
	}
	cases["limits.operator_read_rate"] = "province: \"440000\"\ndata_dir: d\nlimits:\n  operator_read_burst: 10\n"
	for want, body := range cases {
		t.Run(want, func(t *testing.T) {
			_, err := Load(write(t, body))
			if err == nil {
				t.Fatal("accepted")
			}
			key := want
			if want == "unknown" {
				key = "provnice"
			}
			if !strings.Contains(err.Error(), key) {
				t.Fatalf("error %q does not name %q", err, key)
			}
		})
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	p := write(t, "province: \"440000\"\ndata_dir: d\n")
	t.Setenv("HCNODE_LISTEN", "127.0.0.1:9999")
	t.Setenv("HCNODE_NATS_LISTEN", "127.0.0.1:4333")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" || c.NATS.Listen != "127.0.0.1:4333" || !c.NATS.Embedded {
		t.Fatalf("env not applied: %+v", c)
	}
	t.Setenv("HCNODE_NATS_URLS", "nats://a:4222,nats://b:4222")
	if c, err = Load(p); err != nil {
		t.Fatal(err)
	}
	if c.NATS.Embedded || len(c.NATS.URLs) != 2 {
		t.Fatalf("env not applied: %+v", c)
	}
	t.Setenv("HCNODE_NATS_EMBEDDED", "maybe")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "HCNODE_NATS_EMBEDDED") {
		t.Fatalf("bad bool accepted: %v", err)
	}
}

func TestRelativePathsResolveAgainstTheConfigFile(t *testing.T) {
	p := write(t, "province: \"440000\"\ndata_dir: data\ntrust:\n  list_file: tl.json\n  list_sha256: "+strings.Repeat("0", 64)+"\nnats:\n  ca_file: /abs/ca.pem\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	if c.Trust.ListFile != filepath.Join(dir, "tl.json") || c.NATS.CAFile != "/abs/ca.pem" || c.DataDir != filepath.Join(dir, "data") {
		t.Fatalf("paths: %q %q %q", c.Trust.ListFile, c.NATS.CAFile, c.DataDir)
	}
}

// Receipts are sent by default, hourly; "off" in the file turns them off
// (and is read as the word, not as YAML 1.1's boolean).
func TestReceiptsDefaultToSendHourlyAndTheFileTurnsThemOff(t *testing.T) {
	c, err := Load(write(t, "province: \"440000\"\ndata_dir: d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Privacy.Receipts != ReceiptsSend || c.Privacy.ReceiptsEvery != time.Hour {
		t.Fatalf("defaults: receipts %q every %v", c.Privacy.Receipts, c.Privacy.ReceiptsEvery)
	}
	c, err = Load(write(t, "province: \"440000\"\ndata_dir: d\nprivacy:\n  receipts: off\n  receipts_every: 10m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Privacy.Receipts != ReceiptsOff || c.Privacy.ReceiptsEvery != 10*time.Minute {
		t.Fatalf("from the file: receipts %q every %v", c.Privacy.Receipts, c.Privacy.ReceiptsEvery)
	}
}

func TestNATSReplicasDefaultToOneAndAcceptThreeButNotZero(t *testing.T) {
	c, err := Load(write(t, "province: \"440000\"\ndata_dir: d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.Replicas != 1 {
		t.Fatalf("default nats.replicas %d, want 1", c.NATS.Replicas)
	}
	c, err = Load(write(t, "province: \"440000\"\ndata_dir: d\nnats:\n  urls: [nats://a:4222]\n  embedded: false\n  replicas: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.Replicas != 3 {
		t.Fatalf("nats.replicas %d, want 3", c.NATS.Replicas)
	}
	if _, err := Load(write(t, "province: \"440000\"\ndata_dir: d\nnats:\n  replicas: 0\n")); err == nil || !strings.Contains(err.Error(), "nats.replicas") {
		t.Fatalf("replicas 0: %v", err)
	}
	t.Setenv("HCNODE_NATS_REPLICAS", "3")
	if c, err = Load(write(t, "province: \"440000\"\ndata_dir: d\n")); err != nil || c.NATS.Replicas != 3 {
		t.Fatalf("HCNODE_NATS_REPLICAS=3: %d, %v", c.NATS.Replicas, err)
	}
	t.Setenv("HCNODE_NATS_REPLICAS", "three")
	if _, err := Load(write(t, "province: \"440000\"\ndata_dir: d\n")); err == nil || !strings.Contains(err.Error(), "HCNODE_NATS_REPLICAS") {
		t.Fatalf("HCNODE_NATS_REPLICAS=three: %v", err)
	}
}

// log.format is json or text: a typo such as "txt" must stop the node
// naming the setting, not quietly log JSON.
func TestLogFormatOtherThanJSONOrTextIsRefusedByName(t *testing.T) {
	for _, f := range []string{"json", "text"} {
		if _, err := Load(write(t, "province: \"440000\"\ndata_dir: d\nlog:\n  format: "+f+"\n")); err != nil {
			t.Fatalf("log.format %s: %v", f, err)
		}
	}
	_, err := Load(write(t, "province: \"440000\"\ndata_dir: d\nlog:\n  format: txt\n"))
	if err == nil || !strings.Contains(err.Error(), "log.format") || !strings.Contains(err.Error(), "json or text") {
		t.Fatalf("log.format txt: %v", err)
	}
	t.Setenv("HCNODE_LOG_FORMAT", "logfmt")
	if _, err := Load(write(t, "province: \"440000\"\ndata_dir: d\n")); err == nil || !strings.Contains(err.Error(), "log.format") {
		t.Fatalf("HCNODE_LOG_FORMAT=logfmt: %v", err)
	}
}

// A negative trust.stale_limit would turn the staleness check off as 0
// does, without saying so: it is refused by name; 0 (off) stays allowed.
func TestNegativeTrustStaleLimitIsRefusedByName(t *testing.T) {
	_, err := Load(write(t, "province: \"440000\"\ndata_dir: d\ntrust:\n  stale_limit: -24h\n"))
	if err == nil || !strings.Contains(err.Error(), "trust.stale_limit") {
		t.Fatalf("trust.stale_limit -24h: %v", err)
	}
	if _, err := Load(write(t, "province: \"440000\"\ndata_dir: d\ntrust:\n  stale_limit: 0s\n")); err != nil {
		t.Fatalf("trust.stale_limit 0s: %v", err)
	}
}

// trust.revocations_max_age has bounds and no "off": 0 or a value outside
// them is refused by name, with the bounds; the default is within them.
func TestTrustRevocationsMaxAgeIsBoundedAndRefusedByName(t *testing.T) {
	for _, v := range []string{"0s", "30s", "48h"} {
		_, err := Load(write(t, "province: \"440000\"\ndata_dir: d\ntrust:\n  revocations_max_age: "+v+"\n"))
		if err == nil || !strings.Contains(err.Error(), "trust.revocations_max_age") || !strings.Contains(err.Error(), "must be within [2m0s, 24h0m0s]") {
			t.Errorf("trust.revocations_max_age %s: %v", v, err)
		}
	}
	c, err := Load(write(t, "province: \"440000\"\ndata_dir: d\ntrust:\n  revocations_max_age: 1h\n"))
	if err != nil || c.Trust.RevocationsMaxAge != time.Hour {
		t.Fatalf("trust.revocations_max_age 1h: %v, %v", c.Trust.RevocationsMaxAge, err)
	}
	if d := Default("440000").Trust.RevocationsMaxAge; d != DefaultRevocationsMaxAge {
		t.Fatalf("default %v", d)
	}
}

// public_url is the base of the wallet and scanner links people are
// given: one without http(s):// and a host, or with a query or fragment,
// would make every link broken, so it is refused by name.
func TestPublicURLMustBeAnHTTPSOrHTTPBase(t *testing.T) {
	for _, u := range []string{"https://hc.example.gov.cn", "https://hc.example.gov.cn/health/", "http://127.0.0.1:8080"} {
		if _, err := Load(write(t, "province: \"440000\"\ndata_dir: d\npublic_url: "+u+"\n")); err != nil {
			t.Fatalf("public_url %s: %v", u, err)
		}
	}
	for _, u := range []string{"hc.example.gov.cn", "https//hc.example.gov.cn", "ftp://hc.example.gov.cn", "https://", "https://hc.example.gov.cn/?a=1", "https://hc.example.gov.cn/#x"} {
		_, err := Load(write(t, "province: \"440000\"\ndata_dir: d\npublic_url: \""+u+"\"\n"))
		if err == nil || !strings.Contains(err.Error(), "public_url") {
			t.Errorf("public_url %s: %v", u, err)
		}
	}
}

// HCNODE_NATS_URLS is split on commas with the spaces around each URL
// dropped; one naming no URL at all (HCNODE_NATS_URLS= from an env file
// template) is refused by name, not taken as the one URL "".
func TestNATSURLsOverrideIsTrimmedAndAnEmptyOneRefused(t *testing.T) {
	p := write(t, "province: \"440000\"\ndata_dir: d\n")
	t.Setenv("HCNODE_NATS_URLS", "nats://a:4222, nats://b:4222 ,")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.NATS.URLs) != 2 || c.NATS.URLs[0] != "nats://a:4222" || c.NATS.URLs[1] != "nats://b:4222" {
		t.Fatalf("nats.urls %q", c.NATS.URLs)
	}
	for _, v := range []string{"", " , "} {
		t.Setenv("HCNODE_NATS_URLS", v)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "HCNODE_NATS_URLS") {
			t.Errorf("HCNODE_NATS_URLS=%q: %v", v, err)
		}
	}
}

// A file naming NATS servers while nats.embedded stays true (its default)
// is refused by name: the node would run a server of its own,
// never connect to those it names, and sit alone outside the federation
// while looking configured. With embedded: false, or the servers given by
// HCNODE_NATS_URLS (which turns embedded off), it loads.
func TestNATSURLsBesideAnEmbeddedServerAreRefused(t *testing.T) {
	for _, body := range []string{
		"province: \"440000\"\ndata_dir: d\nnats:\n  urls: [nats://a:4222]\n",
		"province: \"440000\"\ndata_dir: d\nnats:\n  embedded: true\n  urls: [nats://a:4222]\n",
	} {
		_, err := Load(write(t, body))
		if err == nil || !strings.Contains(err.Error(), "nats.urls: names NATS servers while nats.embedded is true") ||
			!strings.Contains(err.Error(), "set nats.embedded: false") {
			t.Errorf("%q: %v", body, err)
		}
	}
	if _, err := Load(write(t, "province: \"440000\"\ndata_dir: d\nnats:\n  embedded: false\n  urls: [nats://a:4222]\n")); err != nil {
		t.Errorf("embedded: false with urls: %v", err)
	}
	t.Setenv("HCNODE_NATS_URLS", "nats://b:4222")
	if _, err := Load(write(t, "province: \"440000\"\ndata_dir: d\nnats:\n  urls: [nats://a:4222]\n")); err != nil {
		t.Errorf("HCNODE_NATS_URLS over a file's urls: %v", err)
	}
}

// The trust list's pin is 64 hex digits. The shipped configs' placeholder
// (REPLACE-with-...) was refused with "a trust list file needs its
// 64-hex-digit SHA-256 pinned", without the value, and 64 characters of
// anything passed; a pin in capital hex (PowerShell's Get-FileHash)
// passed and then failed at start as "does not match". Capitals now name
// the same hash, and anything else is refused showing the value.
func TestTrustListPinIsSixtyFourHexDigitsInEitherCase(t *testing.T) {
	const lower = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	c, err := Load(write(t, "province: \"440000\"\ndata_dir: d\ntrust:\n  list_file: tl.json\n  list_sha256: "+strings.ToUpper(lower)+"\n"))
	if err != nil {
		t.Fatalf("a pin in capitals: %v", err)
	}
	if c.Trust.ListSHA256 != lower {
		t.Fatalf("trust.list_sha256 %q, want it in lower case, %q", c.Trust.ListSHA256, lower)
	}
	for _, pin := range []string{"REPLACE-with-the-sha256-printed-by-hcnode-trust-verify", strings.Repeat("z", 64)} {
		_, err := Load(write(t, "province: \"440000\"\ndata_dir: d\ntrust:\n  list_file: tl.json\n  list_sha256: "+pin+"\n"))
		want := "config: trust.list_sha256: \"" + pin + "\" is not 64 hex digits: trust.list_file needs the SHA-256"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("pin %q: %v\nwant %s...", pin, err, want)
		}
	}
}

// TestMissingConfigFileSaysToGiveItWithConfig: serve or check run without
// --config, in a directory without hcnode.yaml, says which file it looked
// for and how to name the node's; before, "config: open hcnode.yaml: no
// such file or directory".
func TestMissingConfigFileSaysToGiveItWithConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hcnode.yaml")
	_, err := Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v, want it to wrap fs.ErrNotExist", err)
	}
	want := "config: " + path + " is not there: give the node's config file with --config FILE ('hcnode init' wrote it into the data directory"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("Load of a missing file: %q, want it to say %q", err, want)
	}
}
