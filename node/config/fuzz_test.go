package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Fuzz targets for the node's configuration: the YAML file and the
// HCNODE_* environment overrides. Seeds: f.Add below and
// testdata/fuzz/<FuzzName>/.

// FuzzLoad: a config file is refused with an error that starts with
// "config" (the file, or the setting, named), or loads into settings
// within their documented ranges that, written back as YAML and loaded
// again, are the same settings (written the same way).
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"province: \"440000\"\ndata_dir: data\n",
		"province: \"440000\"\ndata_dir: /var/lib/hcnode\nnats:\n  replicas: 3\n  urls: [nats://a:4222]\n  embedded: false\n",
		"province: \"440000\"\ndata_dir: d\ncodes:\n  lifetime: 1h\n  paper_lifetime: 2h\n  max_live: 3000\n",
		"province: \"440000\"\ndata_dir: d\nlimits:\n  body_bytes: 1\n  resident_rate: 0.5\n",
		"province: \"440000\"\ndata_dir: d\nrole: verifier\nreplica:\n  home: https://home:8443\n  token_file: t\n",
		"province: \"440000\"\ndata_dir: d\nunknown: 1\n",
		"province: 440000\ndata_dir: d\ntrusted_proxies: [10.0.0.0/8]\npublic_url: https://hc.example.gov.cn\n",
		"", "---\n---\n", "province: [",
	} {
		f.Add([]byte(s))
	}
	for _, k := range []string{"HCNODE_PROVINCE", "HCNODE_DATA_DIR", "HCNODE_NATS_URLS", "HCNODE_NATS_EMBEDDED",
		"HCNODE_NATS_REPLICAS", "HCNODE_ROLE", "HCNODE_REPLICA_TOKEN", "HCNODE_KEK", "HCNODE_KEK_FILE"} {
		if _, ok := os.LookupEnv(k); ok {
			f.Skipf("%s is set: Load would apply it", k)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "hcnode.yaml")
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config") {
				t.Fatalf("refused with %q", err)
			}
			return
		}
		checkRanges(t, c)
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("loaded settings do not marshal: %v", err)
		}
		again := filepath.Join(dir, "again.yaml")
		if err := os.WriteFile(again, out, 0o600); err != nil {
			t.Fatal(err)
		}
		back, err := Load(again)
		if err != nil {
			t.Fatalf("%q loads; written back as %q, it is refused: %v", body, out, err)
		}
		if twice, _ := yaml.Marshal(back); !bytes.Equal(twice, out) {
			t.Fatalf("%q loads and writes as %q; loaded again, writes as %q", body, out, twice)
		}
	})
}

// checkRanges fails t unless c's settings are within the ranges the
// README documents for them.
func checkRanges(t *testing.T, c Config) {
	t.Helper()
	switch {
	case len(c.Province) != 6 || strings.Trim(c.Province, "0123456789") != "":
		t.Fatalf("province %q", c.Province)
	case c.DataDir == "" || !filepath.IsAbs(c.DataDir):
		t.Fatalf("data_dir %q", c.DataDir)
	case c.NATS.Replicas < 1 || c.NATS.Replicas > MaxNATSReplicas:
		t.Fatalf("nats.replicas %d", c.NATS.Replicas)
	case c.Codes.MaxLive < 1 || c.Codes.MaxLive > MaxLiveCodes:
		t.Fatalf("codes.max_live %d", c.Codes.MaxLive)
	case c.Codes.Lifetime <= 0 || c.Codes.PaperLifetime < c.Codes.Lifetime || c.Codes.PaperLifetime > 7*24*time.Hour:
		t.Fatalf("codes.lifetime %v, paper_lifetime %v", c.Codes.Lifetime, c.Codes.PaperLifetime)
	case c.Limits.ResidentRate <= 0 || c.Limits.ResidentRate > 1000 || c.Limits.ResidentBurst < 1 || c.Limits.ResidentBurst > 10000:
		t.Fatalf("limits.resident_rate %v, resident_burst %d", c.Limits.ResidentRate, c.Limits.ResidentBurst)
	case c.Limits.ScannerRate <= 0 || c.Limits.ScannerBurst < 1 || c.Limits.BodyBytes < 1:
		t.Fatalf("limits %+v", c.Limits)
	case c.Tokens.OperatorLifetime < MinOperatorLifetime || c.Tokens.OperatorLifetime > MaxOperatorLifetime:
		t.Fatalf("tokens.operator_lifetime %v", c.Tokens.OperatorLifetime)
	case c.Trust.StaleLimit < 0:
		t.Fatalf("trust.stale_limit %v", c.Trust.StaleLimit)
	case c.Trust.RevocationsMaxAge < MinRevocationsMaxAge || c.Trust.RevocationsMaxAge > MaxRevocationsMaxAge:
		t.Fatalf("trust.revocations_max_age %v", c.Trust.RevocationsMaxAge)
	}
}

// FuzzApplyEnv: HCNODE_* overrides (given one per line, NAME=value) are
// applied exactly as given, NATS URLs split on commas and trimmed with
// none empty; a refusal names the variable and changes nothing the caller
// will use.
func FuzzApplyEnv(f *testing.F) {
	for _, s := range []string{
		"HCNODE_PROVINCE=310000\nHCNODE_NATS_URLS= nats://a:4222 ,, nats://b:4222\n",
		"HCNODE_NATS_URLS= , \n", "HCNODE_NATS_EMBEDDED=yes\n", "HCNODE_NATS_EMBEDDED=1\nHCNODE_NATS_URLS=nats://a\n",
		"HCNODE_NATS_REPLICAS=3\n", "HCNODE_NATS_REPLICAS=0x3\n", "HCNODE_ROLE=verifier\nHCNODE_REPLICA_TOKEN=hct_x\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, env string) {
		vars := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
		c := Default("440000")
		err := c.ApplyEnv(lookup)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: HCNODE_") {
				t.Fatalf("refused with %q", err)
			}
			return
		}
		if v, ok := vars["HCNODE_PROVINCE"]; ok && c.Province != v {
			t.Fatalf("HCNODE_PROVINCE=%q applied as %q", v, c.Province)
		}
		if v, ok := vars["HCNODE_REPLICA_TOKEN"]; ok && c.Replica.Token != v {
			t.Fatalf("HCNODE_REPLICA_TOKEN applied as %q", c.Replica.Token)
		}
		if v, ok := vars["HCNODE_NATS_URLS"]; ok {
			if len(c.NATS.URLs) == 0 {
				t.Fatalf("HCNODE_NATS_URLS=%q applied as no URL", v)
			}
			for _, u := range c.NATS.URLs {
				if u == "" || u != strings.TrimSpace(u) || strings.Contains(u, ",") {
					t.Fatalf("HCNODE_NATS_URLS=%q applied as %q", v, c.NATS.URLs)
				}
			}
			if _, set := vars["HCNODE_NATS_EMBEDDED"]; !set && c.NATS.Embedded {
				t.Fatalf("HCNODE_NATS_URLS=%q left the embedded server on", v)
			}
		}
		if v, ok := vars["HCNODE_NATS_EMBEDDED"]; ok {
			if b, err := strconv.ParseBool(v); err != nil || b != c.NATS.Embedded {
				t.Fatalf("HCNODE_NATS_EMBEDDED=%q applied as %v", v, c.NATS.Embedded)
			}
		}
		if v, ok := vars["HCNODE_NATS_REPLICAS"]; ok {
			if n, err := strconv.Atoi(v); err != nil || n != c.NATS.Replicas {
				t.Fatalf("HCNODE_NATS_REPLICAS=%q applied as %d", v, c.NATS.Replicas)
			}
		}
	})
}
