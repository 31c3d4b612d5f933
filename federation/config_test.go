package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// demoConfig is the shipped NATS server configuration.
const demoConfig = "../configs/nats-server.conf"

// startDemoConfig starts a server with the shipped configuration and
// random passwords, and returns them by user.
func startDemoConfig(t *testing.T) (*Server, map[string]string) {
	t.Helper()
	passwords := map[string]string{}
	for _, user := range []string{"OPERATOR", "440000", "310000", "110000"} {
		pw := rand.Text()
		t.Setenv("HCFED_NATS_"+user+"_PASSWORD", pw)
		passwords[user] = pw
	}
	passwords["operator"] = passwords["OPERATOR"]
	return runServerWith(t, ServerConfig{ConfigFile: demoConfig}), passwords
}

func asUser(user, password string) func(*ConnConfig) {
	return func(c *ConnConfig) { c.User, c.Password = user, password }
}

// TestDemoConfigConfinesEachProvince is the defense in depth of the
// shipped configuration: a province can write its own keys and deltas,
// read everything, and the server itself refuses its writes under another
// province's name, even from a client without the local check.
func TestDemoConfigConfinesEachProvince(t *testing.T) {
	s, pw := startDemoConfig(t)
	ctx := testCtx(t)

	op := connectReady(t, s, "", asUser("operator", pw["operator"]))
	if _, err := op.PutState(ctx, "trustlist", []byte("trust list v1")); err != nil {
		t.Fatalf("operator puts the trust list: %v", err)
	}

	gd := connectReady(t, s, "440000", asUser("440000", pw["440000"])) // streams exist: read-only check
	if _, err := gd.PutState(ctx, "440000.keyset", []byte("gd keyset")); err != nil {
		t.Fatalf("440000 puts its own keyset: %v", err)
	}
	if err := gd.PublishRevocation(ctx, "440000", 1, []byte("gd rev 1")); err != nil {
		t.Fatalf("440000 publishes its own revocation: %v", err)
	}
	var seen recorder[StateUpdate]
	if err := gd.WatchState(ctx, seen.add); err != nil {
		t.Fatalf("440000 watches state: %v", err)
	}
	if got := seen.all(); len(got) != 2 {
		t.Fatalf("440000's watcher caught up on %d values, want trustlist and its keyset", len(got))
	}
	if v, _, err := gd.GetState(ctx, "trustlist"); err != nil || string(v) != "trust list v1" {
		t.Fatalf("440000 reads the trust list: %q, %v", v, err)
	}
	revs, _ := consumeInto(t, gd, 0)
	revs.waitLen(t, 1)

	// The same user without the local check: only the server stands in
	// the way now, and it refuses at once with a permission error.
	rogue := connect(t, s, "", asUser("440000", pw["440000"]), func(c *ConnConfig) { c.InboxPrefix = "_INBOX_440000" })
	start := time.Now()
	for _, key := range []string{"310000.keyset", "310000.contentkey.440000", "trustlist"} {
		_, err := rogue.PutState(ctx, key, []byte("forged"))
		if !errors.Is(err, ErrPermissionDenied) {
			t.Errorf("440000 puts %s: %v, want ErrPermissionDenied", key, err)
		}
	}
	if err := rogue.PublishRevocation(ctx, "310000", 1, []byte("forged")); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("440000 publishes 310000's revocation: %v, want ErrPermissionDenied", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusals took %s: they should not wait for an ack timeout", d)
	}
	if _, _, err := op.GetState(ctx, "310000.keyset"); !errors.Is(err, ErrNotFound) {
		t.Errorf("310000.keyset after the refused put: %v", err)
	}
	if v, _, _ := op.GetState(ctx, "trustlist"); string(v) != "trust list v1" {
		t.Errorf("trust list became %q", v)
	}

	// Stream administration is the operator's.
	cfg := gd.streamConfig()
	cfg.MaxAge = 2 * streamDuplicates
	if _, err := op.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := gd.EnsureStreams(ctx); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("440000 repairs the stream: %v, want ErrPermissionDenied", err)
	}
	if err := op.EnsureStreams(ctx); err != nil {
		t.Errorf("operator repairs the stream: %v", err)
	}
}

func TestDemoConfigRefusesBadCredentials(t *testing.T) {
	s, pw := startDemoConfig(t)
	for name, mod := range map[string]func(*ConnConfig){
		"anonymous":      func(*ConnConfig) {},
		"wrong password": asUser("440000", pw["310000"]),
		"unknown user":   asUser("999999", pw["440000"]),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cfg := ConnConfig{URLs: []string{s.ClientURL()}, Federation: testFed, Province: "440000"}
		mod(&cfg)
		c, err := Connect(ctx, cfg)
		cancel()
		var ce *ConnectError
		if err == nil {
			c.Close()
			t.Errorf("%s: connected", name)
		} else if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: waited for the deadline instead of failing: %v", name, err)
		} else if !errors.Is(err, ErrAuthFailed) || !errors.As(err, &ce) || ce.Servers != s.ClientURL() {
			t.Errorf("%s: %v, want a ConnectError for %s wrapping ErrAuthFailed", name, err, s.ClientURL())
		} else if strings.Contains(err.Error(), pw["310000"]) || strings.Contains(err.Error(), pw["440000"]) {
			t.Errorf("%s: the password shows in %q", name, err)
		}
	}
}

func TestDemoConfigNeedsItsPasswords(t *testing.T) {
	start := func() error {
		s, err := StartServer(ServerConfig{ConfigFile: demoConfig, Port: -1, StoreDir: t.TempDir()})
		if err == nil {
			s.Shutdown()
		}
		return err
	}
	// Unset: the config does not parse.
	for _, user := range []string{"OPERATOR", "440000", "310000", "110000"} {
		t.Setenv("HCFED_NATS_"+user+"_PASSWORD", "x")
		os.Unsetenv("HCFED_NATS_" + user + "_PASSWORD")
	}
	if err := start(); err == nil || !strings.Contains(err.Error(), "HCFED_NATS_") {
		t.Errorf("started without password variables: %v", err)
	}
	// Set but empty: nats-server would let anyone in as that user.
	for _, user := range []string{"OPERATOR", "440000", "310000", "110000"} {
		t.Setenv("HCFED_NATS_"+user+"_PASSWORD", "secret-"+user)
	}
	t.Setenv("HCFED_NATS_310000_PASSWORD", "")
	if err := start(); err == nil || !strings.Contains(err.Error(), `"310000" has an empty password`) {
		t.Errorf("started with an empty password: %v", err)
	}
}

// TestDemoConfigConfinesSnapshots checks the snapshot bucket under the
// shipped permissions: a province stores its own snapshot, reads
// everyone's, asks another province for a fresh one, and the server
// refuses its snapshot under another province's name.
func TestDemoConfigConfinesSnapshots(t *testing.T) {
	s, pw := startDemoConfig(t)
	ctx := testCtx(t)
	connectReady(t, s, "", asUser("operator", pw["operator"]))
	gd := connectReady(t, s, "440000", asUser("440000", pw["440000"]))
	sh := connectReady(t, s, "310000", asUser("310000", pw["310000"]))

	snap := []byte("eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"seq":7}`)) + ".sig")
	if err := gd.PutSnapshot(ctx, "440000", snap); err != nil {
		t.Fatalf("440000 stores its snapshot: %v", err)
	}
	if got, err := sh.GetSnapshot(ctx, "440000"); err != nil || !bytes.Equal(got, snap) {
		t.Fatalf("310000 reads 440000's snapshot: %q, %v", got, err)
	}
	published := make(chan struct{}, 1)
	if err := gd.ServeSnapshotRequests(ctx, func(context.Context) error { published <- struct{}{}; return nil }); err != nil {
		t.Fatalf("440000 serves snapshot requests: %v", err)
	}
	if err := sh.RequestSnapshot(ctx, "440000", 7); err != nil {
		t.Fatalf("310000 asks 440000 for a snapshot: %v", err)
	}
	<-published

	rogue := connect(t, s, "", asUser("440000", pw["440000"]), func(c *ConnConfig) { c.InboxPrefix = "_INBOX_440000" })
	if err := rogue.PutSnapshot(ctx, "310000", snap); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("440000 stores 310000's snapshot: %v, want ErrPermissionDenied", err)
	}
	if _, err := sh.GetSnapshot(ctx, "310000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("310000's snapshot after the refused put: %v", err)
	}
}
