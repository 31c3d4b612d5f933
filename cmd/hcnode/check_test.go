package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/datadir"
	"github.com/hcfed/hcfed/node/seal"
)

// initCheckNode runs 'hcnode init' for province 440000 in a temporary
// directory, on ports chosen at start, and returns its data directory and
// config file.
func initCheckNode(t *testing.T) (dir, cfgPath string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "gd")
	if out, err := run(t, "init", "--province", "440000", "--name", "Guangdong", "--data", dir,
		"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	return dir, filepath.Join(dir, "hcnode.yaml")
}

// fileState is what a preflight must leave as it was: a file's bytes,
// mode and modification time.
type fileState struct {
	sum   [32]byte
	mode  fs.FileMode
	mtime time.Time
}

// snapshot records every file under dir.
func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	files := map[string]fileState{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fileState{mode: fi.Mode(), mtime: fi.ModTime()}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			st.sum = sha256.Sum256(b)
		}
		files[path] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// requireUnchanged fails the test if any file under dir was added,
// removed or changed since before.
func requireUnchanged(t *testing.T, dir string, before map[string]fileState, doing string) {
	t.Helper()
	after := snapshot(t, dir)
	for p, st := range after {
		if b, ok := before[p]; !ok {
			t.Errorf("%s created %s", doing, p)
		} else if b != st {
			t.Errorf("%s changed %s (bytes, mode or mtime): before %+v, after %+v", doing, p, b, st)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s removed %s", doing, p)
		}
	}
}

// runWithin runs hcnode with args in-process, stopping it when the
// timeout passes (a serve that started).
func runWithin(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out bytes.Buffer
	root := newRoot(&out, &out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// trustListFor writes a trust list for the node in dir, signed by one
// operator, issued at iat and expiring at exp, and returns its file and
// SHA-256.
func trustListFor(t *testing.T, dir string, iat, exp time.Time) (file, sum string) {
	t.Helper()
	work := t.TempDir()
	op, prop, file := filepath.Join(work, "alice"), filepath.Join(work, "p.json"), filepath.Join(work, "v1.json")
	for _, args := range [][]string{
		{"trust", "keygen", "--out", op},
		{"trust", "propose", "--federation", "demo", "--threshold", "1", "--add-operator", "alice:Alice:" + op + ".pub.jwk",
			"--add-member", "440000:Guangdong:" + filepath.Join(dir, "root.pub.jwk"), "--out", prop},
	} {
		if out, err := run(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	var doc map[string]any
	b, err := os.ReadFile(prop)
	if err == nil {
		err = json.Unmarshal(b, &doc)
	}
	if err != nil {
		t.Fatal(err)
	}
	doc["iat"], doc["exp"] = iat.Unix(), exp.Unix()
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prop, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "trust", "sign", "--key", op+".key", "--in", prop, "--out", file); err != nil {
		t.Fatalf("trust sign: %v\n%s", err, out)
	}
	signed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(signed)
	return file, hex.EncodeToString(s[:])
}

// requireSaid fails the test unless check's output says each of wants.
func requireSaid(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("check said:\n%s\nwant it to say %q", out, want)
		}
	}
}

// failLine finds the FAIL line about what in check's output.
func failLine(out, what string) string {
	m := regexp.MustCompile(`(?m)^FAIL  ` + regexp.QuoteMeta(what) + `: .*$`).FindString(out)
	return m
}

// TestCheckPassesOnACleanNodeAndChangesNothing: on a node fresh from
// init, check says every check is ok (the missing trust list is a
// warning), exits 0, and leaves every file of the data directory as it
// was: same bytes, mode and mtime, no -wal or -shm, no lock file written.
func TestCheckPassesOnACleanNodeAndChangesNothing(t *testing.T) {
	dir, cfgPath := initCheckNode(t)
	before := snapshot(t, dir)
	out, err := run(t, "check", "--config", cfgPath)
	if err != nil {
		t.Fatalf("check on a clean node: %v\n%s", err, out)
	}
	requireSaid(t, out,
		"ok    config: "+cfgPath+" is valid\n",
		"ok    data directory: "+dir+" holds a node; none is running on it\n",
		"ok    KEK: 32 bytes from "+filepath.Join(dir, "kek.key")+"\n",
		"ok    database: "+filepath.Join(dir, "node.db")+" opens; schema current; quick_check ok\n",
		"ok    keys: the KEK opens every key of the database\n",
		"ok    privacy notice: version "+config.NoticeVersion+" not served yet: its text is recorded when the node first serves it\n",
		"warn  trust list: none held and none pinned",
		"ok    listen: 127.0.0.1:0: a free port is chosen at start\n",
		"ok    metrics_listen: 127.0.0.1:0: a free port is chosen at start\n",
		"ok    metrics: served on metrics_listen (127.0.0.1:0) only, without a token; listen answers /metrics 404\n",
		"check passed: nothing would stop the node from starting (1 warning)\n")
	if !regexp.MustCompile(`(?m)^ok    signing key: [A-Za-z0-9_-]{43} active; next rotation `).MatchString(out) {
		t.Errorf("check said nothing of the active signing key:\n%s", out)
	}
	requireUnchanged(t, dir, before, "check")

	out, err = run(t, "check", "--config", cfgPath, "--json")
	var res struct {
		OK       bool `json:"ok"`
		Findings []struct{ Level, What, Detail string }
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || !res.OK || len(res.Findings) < 8 || res.Findings[0].What != "config" {
		t.Fatalf("check --json: %v\n%s", err, out)
	}
	requireUnchanged(t, dir, before, "check --json")
}

// TestCheckFailsAsServeRefuses breaks one thing at a time on an
// initialised node and checks that check exits 1 with a FAIL line
// holding serve's own refusal, word for word, and changes no file of the
// data directory.
func TestCheckFailsAsServeRefuses(t *testing.T) {
	dir, cfgPath := initCheckNode(t)
	t.Setenv("HCNODE_NATS_URLS", "nats://127.0.0.1:1") // serve, if it started, would never reach a real server
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	expired, expiredSum := trustListFor(t, dir, time.Now().Add(-100*24*time.Hour), time.Now().Add(-24*time.Hour))
	current, currentSum := trustListFor(t, dir, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
	badCfg := filepath.Join(dir, "..", "bad.yaml")
	cfgText, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badCfg, bytes.Replace(cfgText, []byte("listen:"), []byte("listn:"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	noConns := filepath.Join(dir, "..", "no-conns.yaml")
	if err := os.WriteFile(noConns, bytes.Replace(cfgText, []byte("max_connections: 4096"), []byte("max_connections: 0"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	kekPath := filepath.Join(dir, "kek.key")

	for _, tc := range []struct {
		name, what string
		cfg        string
		env        map[string]string
		setup      func() (undo func())
		want       string // in the FAIL line, beside serve's refusal
	}{
		{name: "bad config line", what: "config", cfg: badCfg, want: "config: " + badCfg + `: line 6: "listn" is not a setting: did you mean listen?`},
		{name: "no connections allowed", what: "config", cfg: noConns, want: "config: limits.max_connections: 0 must be within [1, 1048576]"},
		{name: "another KEK", what: "keys", env: map[string]string{seal.EnvKEK: base64.StdEncoding.EncodeToString(seal.NewKeyMaterial())},
			want: "is not the KEK this data directory was initialised with"},
		{name: "KEK readable by others", what: "KEK", setup: func() func() {
			if err := os.Chmod(kekPath, 0o644); err != nil {
				t.Fatal(err)
			}
			return func() { os.Chmod(kekPath, 0o600) }
		}, want: "is readable by others (mode -rw-r--r--); chmod 600 it"},
		{name: "port in use", what: "listen", env: map[string]string{"HCNODE_LISTEN": busy.Addr().String()},
			want: busy.Addr().String() + ": the address is already in use by another program"},
		{name: "an address of another machine", what: "listen", env: map[string]string{"HCNODE_LISTEN": "192.0.2.1:8080", "HCNODE_PUBLIC_URL": "https://hc.example.gov.cn"},
			want: "listen 192.0.2.1:8080: no network interface of this machine has that address: set listen (HCNODE_LISTEN) to one of its addresses"},
		{name: "metrics port in use", what: "metrics_listen", env: map[string]string{"HCNODE_METRICS_LISTEN": busy.Addr().String()},
			want: busy.Addr().String() + ": the address is already in use by another program (another hcnode?): stop it, or set metrics_listen (HCNODE_METRICS_LISTEN)"},
		{name: "metrics token missing", what: "metrics", env: map[string]string{"HCNODE_METRICS_LISTEN": "", "HCNODE_METRICS_TOKEN_FILE": "metrics.token"},
			want: "metrics_token_file: " + filepath.Join(dir, "metrics.token") + " is missing: write a token into it"},
		{name: "expired pinned trust list", what: "trust list",
			env:  map[string]string{"HCNODE_TRUST_LIST_FILE": expired, "HCNODE_TRUST_LIST_SHA256": expiredSum},
			want: "is refused (expired: trust list v1 expired at "},
		{name: "pinned trust list of another federation", what: "trust list",
			env:  map[string]string{"HCNODE_TRUST_LIST_FILE": current, "HCNODE_TRUST_LIST_SHA256": currentSum, "HCNODE_FEDERATION": "hcfed-cn"},
			want: "is a trust list of federation demo, but this node's federation is hcfed-cn: set federation: demo in the config (HCNODE_FEDERATION)"},
		{name: "pinned trust list missing", what: "trust list",
			env:  map[string]string{"HCNODE_TRUST_LIST_FILE": expired + ".missing", "HCNODE_TRUST_LIST_SHA256": expiredSum},
			want: "cannot be read: put the trust list the federation operators gave you there"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if tc.setup != nil {
				defer tc.setup()()
			}
			cfg := cfgPath
			if tc.cfg != "" {
				cfg = tc.cfg
			}
			requireCheckFailsAsServe(t, dir, cfg, tc.what, tc.want)
		})
	}
}

// TestCheckRefusesADatabaseOfANewerBuild: a database a newer build
// migrated is a FAIL, in serve's words; one a migration behind says how
// many steps the start will take, and passes.
func TestCheckRefusesADatabaseOfANewerBuild(t *testing.T) {
	dir, cfgPath := initCheckNode(t)
	db, err := sql.Open("sqlite", filepath.Join(dir, "node.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var newest int
	if err := db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM schema_migrations WHERE version = ?`, newest); err != nil {
		t.Fatal(err)
	}
	db.Close() // no -wal left behind
	out, err := run(t, "check", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "schema older than this build: will migrate 1 step at start, after which an older build "+
		"refuses it (hcnode backup first)") {
		t.Fatalf("check on a database one migration behind: %v\n%s", err, out)
	}

	db, err = sql.Open("sqlite", filepath.Join(dir, "node.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES (?, 'x', 0), (?, 'y', 0)`,
		newest, newest+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := snapshot(t, dir)
	out, err = run(t, "check", "--config", cfgPath)
	requireUnchanged(t, dir, before, "check")
	line := failLine(out, "database")
	if err == nil || !strings.Contains(line, "is newer than this build's") {
		t.Fatalf("check on a newer build's database: %v\n%s", err, out)
	}
	t.Setenv("HCNODE_NATS_URLS", "nats://127.0.0.1:1")
	_, serveErr := runWithin(t, 20*time.Second, "serve", "--config", cfgPath)
	if serveErr == nil || !strings.Contains(line, serveErr.Error()) {
		t.Errorf("check and serve disagree:\ncheck: %s\nserve: %v", line, serveErr)
	}
}

// TestCheckWarnsOfATrustListNearItsExpiry: a pinned list that expires in
// under a week passes with a warning.
func TestCheckWarnsOfATrustListNearItsExpiry(t *testing.T) {
	dir, cfgPath := initCheckNode(t)
	file, sum := trustListFor(t, dir, time.Now(), time.Now().Add(3*24*time.Hour))
	t.Setenv("HCNODE_TRUST_LIST_FILE", file)
	t.Setenv("HCNODE_TRUST_LIST_SHA256", sum)
	out, err := run(t, "check", "--config", cfgPath)
	if err != nil || !regexp.MustCompile(`(?m)^warn  trust list: version 1 expires at .* \(in 2 days\): the federation operators must sign`).MatchString(out) {
		t.Fatalf("check with a trust list expiring in 3 days: %v\n%s", err, out)
	}
}

// TestCheckBesideARunningNode: check on the data directory of a running
// node says so and passes; it neither takes the node's lock nor stops it
// from writing. An external NATS out of reach is a warning.
func TestCheckBesideARunningNode(t *testing.T) {
	n := startTestNode(t)
	t.Setenv("HCNODE_NATS_EMBEDDED", "false") // as startTestNode runs it
	t.Setenv("HCNODE_NATS_URLS", "nats://127.0.0.1:1")
	out, err := run(t, "check", "--config", n.cfgPath)
	if err != nil {
		t.Fatalf("check beside a running node: %v\n%s", err, out)
	}
	requireSaid(t, out,
		"ok    data directory: a node is running on this data directory (hcnode serve (pid ",
		"ok    database: ",
		"ok    keys: the KEK opens every key of the database",
		"warn  nats: NATS server nats://127.0.0.1:1 not reachable",
		"the node starts all the same")
	if holder, held, err := datadir.Holder(filepath.Dir(n.cfgPath)); err != nil || !held || !strings.HasPrefix(holder, "hcnode serve") {
		t.Fatalf("after check, the node's lock: %q %v %v", holder, held, err)
	}
	useNode(t, n)
	if out, err := run(t, "scanner", "add", "--name", "gate 1"); err != nil {
		t.Fatalf("the node after check: scanner add: %v\n%s", err, out)
	}
}

// TestCheckReachesAnExternalNATS: with an external NATS server that
// answers, check connects with the node's settings and says so.
func TestCheckReachesAnExternalNATS(t *testing.T) {
	_, cfgPath := initCheckNode(t)
	// The plain test server knows no accounts: connect as a node of the
	// single-account federation would.
	editConfig(t, cfgPath, func(b []byte) []byte {
		return regexp.MustCompile(`(?m)^(    (nkey_seed_file|server_config|isolation)):.*$`).ReplaceAll(b, []byte(`$1: ""`))
	})
	srv, err := federation.StartServer(federation.ServerConfig{Host: "127.0.0.1", Port: -1, StoreDir: t.TempDir(), Name: "check"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	t.Setenv("HCNODE_NATS_EMBEDDED", "false")
	t.Setenv("HCNODE_NATS_URLS", srv.ClientURL())
	out, err := run(t, "check", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "ok    nats: connected to nats://127.0.0.1:") {
		t.Fatalf("check with a NATS server up: %v\n%s", err, out)
	}
}

// TestCheckFailsWithAnotherProvincesNATSSeed: a node of Guangdong given
// Shanghai's seed of 'hcnode nats-config' is let in by the server, as
// Shanghai's user; check says so (serve would start, but not sync),
// rather than "connected".
func TestCheckFailsWithAnotherProvincesNATSSeed(t *testing.T) {
	_, cfgPath := initCheckNode(t)
	seeds := t.TempDir()
	conf, err := federation.WriteAccountsConfig(seeds, []string{"310000", "440000"}, federation.AccountsOptions{Federation: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := federation.StartServer(federation.ServerConfig{Host: "127.0.0.1", Port: -1, StoreDir: t.TempDir(), Name: "check", ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	shanghai := filepath.Join(seeds, "310000.nk")
	editConfig(t, cfgPath, func(b []byte) []byte {
		return regexp.MustCompile(`(?m)^(    nkey_seed_file):.*$`).ReplaceAll(b, []byte(`$1: `+shanghai))
	})
	t.Setenv("HCNODE_NATS_EMBEDDED", "false")
	t.Setenv("HCNODE_NATS_URLS", srv.ClientURL())
	out, err := run(t, "check", "--config", cfgPath)
	if err == nil {
		t.Fatalf("check with another province's seed passed:\n%s", out)
	}
	requireSaid(t, out, "FAIL  nats: NATS server "+srv.ClientURL()+" accepted NKey seed file "+shanghai+
		", but not as province 440000's user: it refuses it the province's reply inbox _INBOX_440000.>")
}

// TestCheckReportsWhereMetricsAreServed: a config from before
// metrics_listen, without metrics_token_file either (serve answers
// /metrics 404 on listen, and warns at start), passes with a warning
// saying what to set; with a metrics token instead, check says /metrics
// is served on listen to its bearer only, where the token is, who may
// read its file (a FAIL if every user may, as serve refuses it) and that
// SIGHUP reads it again.
func TestCheckReportsWhereMetricsAreServed(t *testing.T) {
	dir, cfgPath := initCheckNode(t)
	editConfig(t, cfgPath, func(b []byte) []byte {
		line := regexp.MustCompile(`(?m)^metrics_listen: .*\n`)
		if !line.Match(b) {
			t.Fatalf("init wrote no metrics_listen:\n%s", b)
		}
		return line.ReplaceAll(b, nil)
	})
	out, err := run(t, "check", "--config", cfgPath)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	requireSaid(t, out, "warn  metrics: served nowhere: neither metrics_listen nor metrics_token_file is set, and listen answers "+
		"/metrics 404; set metrics_listen (such as "+config.DefaultMetricsListen+") to serve it on a listener of its own, or "+
		"metrics_token_file to serve it on listen to a bearer token\n", "(2 warnings)")

	token := filepath.Join(dir, config.DefaultMetricsTokenFile)
	if err := config.WriteMetricsToken(token); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HCNODE_METRICS_TOKEN_FILE", config.DefaultMetricsTokenFile)
	out, err = run(t, "check", "--config", cfgPath)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	requireSaid(t, out, "ok    metrics: served on listen only with the bearer token in "+token+" (mode 0600: only its owner reads it; "+
		"Prometheus: authorization: credentials_file); 401 metrics_token_required without it; a token rotated in the file is taken "+
		"on SIGHUP (systemctl reload hcnode)\n", "(1 warning)")

	// Readable by the node's group (a Prometheus in it): said; by every
	// user: a FAIL, as serve refuses it.
	if err := os.Chmod(token, 0o640); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "check", "--config", cfgPath)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	requireSaid(t, out, "ok    metrics: served on listen only with the bearer token in "+token+" (mode 0640: the node's group reads it "+
		"too, as a Prometheus in that group may; chmod 600 it otherwise; ")
	if err := os.Chmod(token, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "check", "--config", cfgPath)
	if line := failLine(out, "metrics"); err == nil || !strings.Contains(line, token+" is readable by every user of this machine (mode -rw-r--r--): chmod 600 it") {
		t.Fatalf("check of a metrics token every user reads: %v %q, want a FAIL\n%s", err, line, out)
	}
}

// TestCheckWarnsOfAnEmbeddedNATSWithoutAccounts: a config of an earlier
// init runs its embedded NATS server with no configuration, open to any
// client; check passes it with a warning naming what this init writes.
func TestCheckWarnsOfAnEmbeddedNATSWithoutAccounts(t *testing.T) {
	_, cfgPath := initCheckNode(t)
	editConfig(t, cfgPath, func(b []byte) []byte {
		line := regexp.MustCompile(`(?m)^\s*(server_config|nkey_seed_file|isolation): .*\n`)
		if n := len(line.FindAll(b, -1)); n != 3 {
			t.Fatalf("init wrote %d of nats' server_config, nkey_seed_file and isolation:\n%s", n, b)
		}
		return line.ReplaceAll(b, nil)
	})
	out, err := run(t, "check", "--config", cfgPath)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	requireSaid(t, out, "warn  nats: embedded server on 127.0.0.1:0 without nats.server_config: it takes any client that reaches it, "+
		"with no credentials", "nats.isolation: accounts)", "(2 warnings)")
}

// TestCheckWarnsOfANoticeVersionOfAnEarlierBuild: a config that still
// names the notice version an earlier 'hcnode init' wrote passes with a
// warning saying what serve does about it (it serves this build's notice,
// and logs a warning at start) and what to set.
func TestCheckWarnsOfANoticeVersionOfAnEarlierBuild(t *testing.T) {
	_, cfgPath := initCheckNode(t)
	replaceInConfig(t, cfgPath, "notice_version: "+config.NoticeVersion, "notice_version: 2026-11")
	out, err := run(t, "check", "--config", cfgPath)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	requireSaid(t, out,
		"warn  privacy notice: privacy.notice_version 2026-11 is an earlier build's notice (",
		"): this build serves its own as "+config.NoticeVersion+", and residents who consented to 2026-11 keep their consent",
		"Set privacy.notice_version: "+config.NoticeVersion+"\n",
		"(2 warnings)")
}

// TestCheckFailsAsServeRefusesANoticeVersionWithAnotherText: once the
// node has served its notice, a config under which the same version
// would say something else (here another privacy.purpose) is a FAIL in
// serve's own words, and serve refuses; under a new notice_version check
// passes.
func TestCheckFailsAsServeRefusesANoticeVersionWithAnotherText(t *testing.T) {
	dir, cfgPath := initCheckNode(t)
	t.Setenv("HCNODE_NATS_URLS", "nats://127.0.0.1:1") // serve, if it started, would never reach a real server
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, cfg)
	t.Setenv("HCNODE_URL", d.URL)
	out, err := run(t, "notice")
	if closeErr := d.Close(); err != nil || closeErr != nil {
		t.Fatalf("hcnode notice: %v (close: %v)\n%s", err, closeErr, out)
	}
	replaceInConfig(t, cfgPath, "purpose: epidemic-prevention", "purpose: public-health-research")

	before := snapshot(t, dir)
	out, err = run(t, "check", "--config", cfgPath)
	requireUnchanged(t, dir, before, "check")
	if err == nil || !strings.Contains(err.Error(), "check failed") {
		t.Fatalf("check exited %v, want a failure:\n%s", err, out)
	}
	line := failLine(out, "privacy notice")
	if !strings.Contains(line, "privacy.notice_version "+config.NoticeVersion+" names the privacy notice this node has served since ") ||
		!strings.Contains(line, "(its purpose, text, use_scope changed)") {
		t.Errorf("check said:\n%s\nwant a FAIL line on the privacy notice saying what changed", out)
	}
	serveOut, serveErr := runWithin(t, 20*time.Second, "serve", "--config", cfgPath)
	var changed *node.NoticeChangedError
	if !errors.As(serveErr, &changed) {
		t.Fatalf("serve: %v, want it refused with a NoticeChangedError\n%s", serveErr, serveOut)
	}
	if !strings.Contains(line, serveErr.Error()) {
		t.Errorf("check and serve disagree:\ncheck: %s\nserve: %s", line, serveErr)
	}

	replaceInConfig(t, cfgPath, "notice_version: "+config.NoticeVersion, "notice_version: gd-2027-01")
	out, err = run(t, "check", "--config", cfgPath)
	if err != nil {
		t.Fatalf("check under a new notice version: %v\n%s", err, out)
	}
	requireSaid(t, out, "ok    privacy notice: version gd-2027-01 not served yet: its text is recorded when the node first serves it\n")
}

// editConfig rewrites the config file at path with edit.
func editConfig(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceInConfig replaces the first from in the config file at path with
// to; the file must hold from.
func replaceInConfig(t *testing.T, path, from, to string) {
	t.Helper()
	editConfig(t, path, func(b []byte) []byte {
		if !bytes.Contains(b, []byte(from)) {
			t.Fatalf("the config has no %q:\n%s", from, b)
		}
		return bytes.Replace(b, []byte(from), []byte(to), 1)
	})
}
