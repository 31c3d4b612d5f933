package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/replica"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// damage overwrites n bytes of the file at path from off: with 0xff, or
// with "not a database" from offset 0, where SQLite's header is.
func damage(t *testing.T, path string, off int64, n int) {
	t.Helper()
	b := []byte(strings.Repeat("\xff", n))
	if off == 0 {
		b = []byte(strings.Repeat("not a database ", n/15+1))[:n]
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteAt(b, off)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
}

// requireCheckFailsAsServe runs check on cfgPath, requires it to exit 1
// with a FAIL line on what holding want, changing no file under dir, and
// then requires serve to refuse in words the FAIL line holds.
func requireCheckFailsAsServe(t *testing.T, dir, cfgPath, what, want string) {
	t.Helper()
	before := snapshot(t, dir)
	out, err := run(t, "check", "--config", cfgPath)
	requireUnchanged(t, dir, before, "check")
	if err == nil || !strings.Contains(err.Error(), "check failed") {
		t.Fatalf("check exited %v, want a failure:\n%s", err, out)
	}
	line := failLine(out, what)
	if !strings.Contains(line, want) {
		t.Fatalf("check said:\n%s\nwant a FAIL line on %s saying %q", out, what, want)
	}
	serveOut, serveErr := runWithin(t, 20*time.Second, "serve", "--config", cfgPath)
	if serveErr == nil {
		t.Fatalf("serve started: %s", serveOut)
	}
	// Under its heading, check says "config: FILE: …" for serve's
	// "config FILE: …".
	if !strings.Contains(line, strings.TrimPrefix(strings.ReplaceAll(serveErr.Error(), "\n", "; "), "config ")) {
		t.Errorf("check and serve disagree:\ncheck: %s\nserve: %s", line, serveErr)
	}
}

// TestCheckFailsAsServeRefusesADamagedKeyStore: a keys.db serve refuses
// (not a database; its schema page damaged) is a FAIL in serve's words;
// one damaged where a start does not read (serve starts, and residents'
// keys are unreadable later) is a FAIL by quick_check; a missing one,
// which serve would replace with an empty key store, is a warning that
// says so. None of it changes a file.
func TestCheckFailsAsServeRefusesADamagedKeyStore(t *testing.T) {
	t.Setenv("HCNODE_NATS_URLS", "nats://127.0.0.1:1") // serve, if it started, would never reach a real server
	t.Run("not a database", func(t *testing.T) {
		dir, cfgPath := initCheckNode(t)
		damage(t, filepath.Join(dir, store.KeysFile), 0, 100)
		requireCheckFailsAsServe(t, dir, cfgPath, "key store", "file is not a database")
	})
	t.Run("schema page damaged", func(t *testing.T) {
		dir, cfgPath := initCheckNode(t)
		damage(t, filepath.Join(dir, store.KeysFile), 100, 200)
		requireCheckFailsAsServe(t, dir, cfgPath, "key store", "database disk image is malformed")
	})
	t.Run("a table's page damaged", func(t *testing.T) {
		dir, cfgPath := initCheckNode(t)
		keys := filepath.Join(dir, store.KeysFile)
		fi, err := os.Stat(keys)
		if err != nil {
			t.Fatal(err)
		}
		damage(t, keys, fi.Size()-4096, 4096) // the last page
		before := snapshot(t, dir)
		out, err := run(t, "check", "--config", cfgPath)
		requireUnchanged(t, dir, before, "check")
		if line := failLine(out, "key store"); err == nil || !strings.Contains(line, "quick_check found the key store "+keys+" damaged: ") {
			t.Fatalf("check on a key store with a damaged page: %v\n%s", err, out)
		}
	})
	t.Run("missing", func(t *testing.T) {
		dir, cfgPath := initCheckNode(t)
		if err := os.Remove(filepath.Join(dir, store.KeysFile)); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, dir)
		out, err := run(t, "check", "--config", cfgPath)
		requireUnchanged(t, dir, before, "check")
		if err != nil {
			t.Fatalf("check without keys.db on a node with no residents: %v\n%s", err, out)
		}
		requireSaid(t, out, "warn  key store: "+filepath.Join(dir, store.KeysFile)+" is missing: serve makes an empty one")
	})
	t.Run("missing, with residents", func(t *testing.T) {
		dir, cfgPath := initCheckNode(t)
		db, err := store.Open(context.Background(), filepath.Join(dir, "node.db"))
		if err != nil {
			t.Fatal(err)
		}
		err = db.CreateSubject(context.Background(), store.Subject{ID: "s_1", DataKey: []byte("sealed"), NameCT: []byte("ct"),
			IDNumberCT: []byte("ct"), MaskedCT: []byte("ct"), Status: "green", StatusSince: time.Now(), Created: time.Now(),
			RetainUntil: time.Now().Add(time.Hour)}, store.Consent{NoticeVersion: config.NoticeVersion, AcceptedAt: time.Now()}, store.Token{})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{store.KeysFile, store.KeysFile + "-wal", store.KeysFile + "-shm"} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
		requireCheckFailsAsServe(t, dir, cfgPath, "key store", "holds the data of 1 resident,")
		if _, err := os.Stat(filepath.Join(dir, store.KeysFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("serve, refusing, left a key store behind (%v)", err)
		}
	})
}

// TestCheckFailsAsServeRefusesADamagedReplicaDatabase: a verifier
// replica's replica.db that serve refuses is a FAIL in serve's words, one
// not made yet is fine (the first start makes it), and a sound one
// passes; check makes no file of the replica's either.
func TestCheckFailsAsServeRefusesADamagedReplicaDatabase(t *testing.T) {
	dir, cfgPath, _ := initCheckReplica(t)
	dbPath := filepath.Join(dir, "replica.db")

	out := checkPassesChangingNothing(t, dir, cfgPath, "a replica not started yet")
	requireSaid(t, out, "ok    replica database: "+dbPath+" not made yet: the first start makes it\n")

	db, err := store.OpenReplica(t.Context(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	out = checkPasses(t, cfgPath, "a sound replica database")
	requireSaid(t, out, "ok    replica database: "+dbPath+" opens; quick_check ok\n")

	damage(t, dbPath, 0, 100)
	requireCheckFailsAsServe(t, dir, cfgPath, "replica database", "file is not a database")
}

// checkPasses runs check on the config at cfgPath, which must pass (on
// what it checks, named in the failure), and returns what it said.
func checkPasses(t *testing.T, cfgPath, on string) string {
	t.Helper()
	out, err := run(t, "check", "--config", cfgPath)
	if err != nil {
		t.Fatalf("check on %s: %v\n%s", on, err, out)
	}
	return out
}

// checkPassesChangingNothing is checkPasses, which must change no file
// in dir.
func checkPassesChangingNothing(t *testing.T, dir, cfgPath, on string) string {
	t.Helper()
	before := snapshot(t, dir)
	out := checkPasses(t, cfgPath, on)
	requireUnchanged(t, dir, before, "check")
	return out
}

// initCheckReplica writes the config of a verifier replica not started
// yet, in a new data directory: its home node runs in this process (it
// registered the replica, whose token is in replica.token), its NATS is
// unreachable. It returns home too.
func initCheckReplica(t *testing.T) (dir, cfgPath string, home testNode) {
	t.Helper()
	home = startTestNode(t)
	useNode(t, home)
	out, err := run(t, "replica", "add", "gd-verify-1")
	var added node.NewReplica
	if err != nil || json.Unmarshal([]byte(out), &added) != nil || added.Token == "" {
		t.Fatalf("replica add: %v\n%s", err, out)
	}
	t.Setenv("HCNODE_NATS_URLS", "nats://127.0.0.1:1")
	dir = filepath.Join(t.TempDir(), "replica")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath = filepath.Join(dir, "hcnode.yaml")
	if err := os.WriteFile(filepath.Join(dir, "replica.token"), []byte(added.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := "province: \"440000\"\nrole: verifier\ndata_dir: .\nlisten: 127.0.0.1:0\nnats:\n  embedded: false\n  urls: [\"nats://127.0.0.1:1\"]\n" +
		"replica:\n  home: " + home.URL + "\n  token_file: replica.token\n"
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath, home
}

// A verifier replica's check did not check its KEK, which the start
// loads (or makes, when there is none): a KEK that does not open the
// enc key replica.db holds passed the check, and serve refused. The
// check now says what the start does: a KEK not made yet is made at the
// first start; one that does not open the enc key is a FAIL in serve's
// words; a KEK file gone while replica.db holds an enc key is a FAIL.
func TestCheckOfAVerifierChecksItsKEKAsServeLoadsIt(t *testing.T) {
	dir, cfgPath, _ := initCheckReplica(t)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	kekPath := cfg.KEKPath()
	out := checkPassesChangingNothing(t, dir, cfgPath, "a replica not started yet")
	requireSaid(t, out, "ok    KEK: "+kekPath+" not made yet: the first start makes it\n")

	// The replica's first start: a KEK, and the enc key sealed under it.
	r, db := newCheckReplica(t, cfg)
	// Until an admin confirms its keys at home, check prints their
	// fingerprint and FAILs saying what to run there.
	fp := r.Fingerprint()
	out, err = run(t, "check", "--config", cfgPath)
	requireSaid(t, out, "ok    replica keys: fingerprint "+fp+" (enc key ")
	if line := failLine(out, "home node"); err == nil || !strings.Contains(line, "replica_unconfirmed") ||
		!strings.Contains(line, "'hcnode replica confirm gd-verify-1 "+fp+"'") {
		t.Fatalf("check of a replica not confirmed: %v, want a FAIL naming the command\n%s", err, out)
	}
	confirmCheckReplica(t, fp)
	runCheckReplica(t, r, "ready", r.Ready)
	closeCheckReplica(t, cfg, db)
	out = checkPasses(t, cfgPath, "a started replica")
	requireSaid(t, out, "trusts its keys (fingerprint "+fp+")\n")
	requireSaid(t, out, "ok    replica enc key: the KEK opens the enc key "+cfg.ReplicaDBPath()+" holds\n")

	if err := os.Remove(kekPath); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "check", "--config", cfgPath)
	if err == nil || !strings.Contains(failLine(out, "KEK"), "a start would make a new KEK that cannot open it") {
		t.Fatalf("check with the KEK file gone: %v\n%s", err, out)
	}

	// Another KEK: serve refuses, and check says so in its words.
	if err := seal.WriteKEKFile(kekPath); err != nil {
		t.Fatal(err)
	}
	requireCheckFailsAsServe(t, dir, cfgPath, "replica enc key", "does not open with this KEK")
}

// newCheckReplica makes the verifier replica cfg describes, as its first
// start does: a KEK, its database, its keys sealed under the KEK. The
// caller closes the database (check on a running replica leaves it open).
func newCheckReplica(t *testing.T, cfg config.Config) (*replica.Replica, *store.ReplicaDB) {
	t.Helper()
	if err := seal.WriteKEKFile(cfg.KEKPath()); err != nil {
		t.Fatal(err)
	}
	kek, err := seal.LoadKEK(cfg.KEKPath())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenReplica(t.Context(), cfg.ReplicaDBPath())
	if err != nil {
		t.Fatal(err)
	}
	r, err := replica.New(t.Context(), replica.Config{Settings: cfg, DB: db, KEK: kek})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return r, db
}

// closeCheckReplica closes the replica's database db as its stop does,
// leaving no -wal or -shm beside it. Checks run in this process beside
// the replica's connection, and SQLite's locks are the process's: the
// first close may keep the -wal of what the replica wrote (the replica
// records home's answers) when a check's read-only connection was open
// beside it. The replica's next start removes it, as this second open
// and close does; a check in a process of its own leaves none.
func closeCheckReplica(t *testing.T, cfg config.Config, db *store.ReplicaDB) {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := store.OpenReplica(t.Context(), cfg.ReplicaDBPath())
	if err == nil {
		err = again.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// runCheckReplica runs r until until holds (nil), or fails the test
// after 5 seconds; it returns once r stopped.
func runCheckReplica(t *testing.T, r *replica.Replica, what string, until func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	err := testkit.Poll(5*time.Second, 10*time.Millisecond, func() error { return until(ctx) })
	cancel()
	<-done
	if err != nil {
		t.Fatalf("the replica, until %s: %v", what, err)
	}
}

// confirmCheckReplica confirms fingerprint fp for gd-verify-1 at its
// home (the client commands point there: initCheckReplica).
func confirmCheckReplica(t *testing.T, fp string) {
	t.Helper()
	if out, err := run(t, "replica", "confirm", "gd-verify-1", fp, "--yes"); err != nil || !strings.Contains(out, "home trusts its keys") ||
		!strings.Contains(out, "fingerprint "+fp) {
		t.Fatalf("replica confirm: %v\n%s", err, out)
	}
}
