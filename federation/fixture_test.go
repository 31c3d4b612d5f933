package federation

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// Test provinces of the fixture federation.
const (
	gd = "440000" // Guangdong
	sh = "310000" // Shanghai
	bj = "110000" // Beijing
)

// fixture is a federation's key material, built afresh per test: an
// operator that signs the trust list, and per province a root key (signs
// keysets), a signing key (signs everything else), an encryption key
// (receives content-key grants) and a content key.
type fixture struct {
	t         testing.TB
	now       time.Time
	operator  *ecdsa.PrivateKey
	provinces map[string]*province
	trustList []byte // version 1, naming all three provinces
}

type province struct {
	id     string
	root   *ecdsa.PrivateKey
	signer *trust.StatementSigner
	enc    *ecdsa.PrivateKey
	ck     trust.ContentKey
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := trust.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newFixture makes a federation's keys and statements for one test.
//
// Every test in this package calls t.Parallel unless it sets environment
// variables (startDemoConfig, t.Setenv): they mostly wait on NATS, and each
// has its own server, ports, store directory and fixture.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Now(), operator: newKey(t), provinces: map[string]*province{}}
	for _, id := range []string{gd, sh, bj} {
		signer, err := trust.NewStatementSigner(newKey(t))
		if err != nil {
			t.Fatal(err)
		}
		ck, err := trust.NewContentKey(trust.ContentKeyID(id, f.now.Format("2006-01-02")), f.now.Add(-time.Hour), f.now.Add(48*time.Hour), nil)
		if err != nil {
			t.Fatal(err)
		}
		f.provinces[id] = &province{id: id, root: newKey(t), signer: signer, enc: newKey(t), ck: ck}
	}
	f.trustList = f.signTrustList(1, map[string]trust.MemberStatus{gd: trust.MemberActive, sh: trust.MemberActive, bj: trust.MemberActive})
	return f
}

func (f *fixture) p(id string) *province { return f.provinces[id] }

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signTrustList signs trust list version naming members with the given
// statuses, valid for 30 days.
func (f *fixture) signTrustList(version uint64, members map[string]trust.MemberStatus) []byte {
	t := f.t
	t.Helper()
	opJWK, err := trust.PublicJWK(&f.operator.PublicKey, "sig")
	if err != nil {
		t.Fatal(err)
	}
	tl := trust.TrustList{Federation: testFed, Version: version, IssuedAt: f.now.Add(-time.Hour).Unix(),
		Expires: f.now.Add(30 * 24 * time.Hour).Unix(), Threshold: 1,
		Operators: []trust.Operator{{ID: "op1", JWK: mustJSON(t, opJWK)}}}
	for _, id := range []string{gd, sh, bj} {
		st, ok := members[id]
		if !ok {
			continue
		}
		root, err := trust.PublicJWK(&f.p(id).root.PublicKey, "sig")
		if err != nil {
			t.Fatal(err)
		}
		tl.Members = append(tl.Members, trust.MemberEntry{ID: id, Name: "province " + id, Root: mustJSON(t, root), Status: st})
	}
	doc, err := trust.SignTrustList(nil, mustJSON(t, tl), f.operator)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// pinnedSHA256 is the hash a node pins for the fixture's trust list.
func (f *fixture) pinnedSHA256() string {
	f.t.Helper()
	p, err := trust.ParseTrustList(f.trustList)
	if err != nil {
		f.t.Fatal(err)
	}
	return p.SHA256()
}

// keysetBy is id's keyset version, valid a week, signed by root.
func (f *fixture) keysetBy(id string, version uint64, root *ecdsa.PrivateKey) []byte {
	t := f.t
	t.Helper()
	p := f.p(id)
	k := &trust.Key{ID: p.signer.KeyID(), State: trust.KeyActive, NotBefore: f.now.Add(-time.Hour),
		Expires: f.now.Add(14 * 24 * time.Hour), Public: p.signer.Public()}
	e, err := trust.KeysetEntryFor(k)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := trust.EncJWK(&p.enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := trust.SignKeyset(root, trust.Keyset{Issuer: id, Version: version, IssuedAt: f.now.Unix(),
		Expires: f.now.Add(7 * 24 * time.Hour).Unix(), Keys: []trust.KeysetEntry{e}, Enc: enc})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(raw)
}

// keyset is id's keyset version signed by id's own root.
func (f *fixture) keyset(id string, version uint64) []byte {
	f.t.Helper()
	return f.keysetBy(id, version, f.p(id).root)
}

// grant is from's content key granted to to.
func (f *fixture) grant(from, to string) []byte {
	f.t.Helper()
	raw, err := trust.GrantContentKey(f.p(from).signer, from, to, &f.p(to).enc.PublicKey, f.p(from).ck, f.now)
	if err != nil {
		f.t.Fatal(err)
	}
	return []byte(raw)
}

// jti is a deterministic, valid code id for (province, n).
func jti(p string, n int) string {
	b := fmt.Appendf(nil, "%s-%09d", p, n) // 16 bytes
	return base64.RawURLEncoding.EncodeToString(b[:16])
}

// entries revokes the codes numbered from..to-1 of p, expiring in a day.
func (f *fixture) entries(p string, from, to int) []trust.RevocationEntry {
	es := make([]trust.RevocationEntry, 0, to-from)
	for n := from; n < to; n++ {
		es = append(es, trust.RevocationEntry{JTI: jti(p, n), Expires: f.now.Add(24 * time.Hour).Unix()})
	}
	return es
}

// revocation is p's delta seq revoking code number seq.
func (f *fixture) revocation(p string, seq uint64) []byte {
	f.t.Helper()
	return f.revocationOf(p, seq, f.entries(p, int(seq), int(seq)+1))
}

func (f *fixture) revocationOf(p string, seq uint64, es []trust.RevocationEntry) []byte {
	f.t.Helper()
	raw, err := f.p(p).signer.Sign(trust.TypRevocation, trust.Revocation{Issuer: p, Seq: seq, IssuedAt: f.now.Unix(), Entries: es})
	if err != nil {
		f.t.Fatal(err)
	}
	return []byte(raw)
}

// snapshot is p's snapshot at seq, revoking codes 1..seq (as the deltas
// from revocation do).
func (f *fixture) snapshot(p string, seq uint64) []byte {
	f.t.Helper()
	raw, err := trust.BuildRevocationSnapshot(f.p(p).signer, p, seq, f.now.Unix(), f.entries(p, 1, int(seq)+1))
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

// heartbeat is p's heartbeat issued at.
func (f *fixture) heartbeat(p string, at time.Time, revSeq uint64) []byte {
	f.t.Helper()
	return f.heartbeatOfKeyset(p, at, revSeq, 1)
}

// heartbeatOfKeyset is p's heartbeat at at naming revocation seq revSeq
// and keyset version ksVersion.
func (f *fixture) heartbeatOfKeyset(p string, at time.Time, revSeq, ksVersion uint64) []byte {
	f.t.Helper()
	raw, err := f.p(p).signer.Sign(trust.TypHeartbeat, trust.Heartbeat{Issuer: p, IssuedAt: at.Unix(),
		KeysetVersion: ksVersion, ContentKeyID: f.p(p).ck.ID, RevocationSeq: revSeq, TrustListVersion: 1})
	if err != nil {
		f.t.Fatal(err)
	}
	return []byte(raw)
}

// newState is province self's empty State, pinned to the fixture's trust list.
func (f *fixture) newState(self string) *trust.State {
	f.t.Helper()
	st, err := trust.NewState(trust.StateConfig{Self: self, EncKey: f.p(self).enc, PinnedSHA256: f.pinnedSHA256()})
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// outcomes records OnStatement calls.
type outcomes struct {
	mu sync.Mutex
	n  map[string]int // "kind/reason" → count
}

func (o *outcomes) record(kind, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[kind+"/"+reason]++
}

func (o *outcomes) count(kindReason string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[kindReason]
}

// syncUnderTest is a running Sync and what it reports.
type syncUnderTest struct {
	*Sync
	state    *trust.State
	cache    *MemCache
	outcomes *outcomes
	peers    recorder[string] // OnPeerKeyset calls
	beats    recorder[string] // OnPeerHeartbeat calls
	stop     func()           // cancels Run and waits for it
}

// syncOpts adjusts a SyncConfig before NewSync.
type syncOpts func(*SyncConfig)

// newSync builds self's Sync over c with a fresh State and MemCache,
// without running it.
func (f *fixture) newSync(c *Conn, self string, opts ...syncOpts) *syncUnderTest {
	t := f.t
	t.Helper()
	u := &syncUnderTest{state: f.newState(self), cache: &MemCache{}, outcomes: &outcomes{}}
	cfg := SyncConfig{Conn: c, State: u.state, Self: self, Cache: u.cache, PinnedTrustList: f.trustList,
		OnStatement: u.outcomes.record, OnPeerKeyset: u.peers.add, OnPeerHeartbeat: u.beats.add, Logger: testLogger(t)}
	for _, o := range opts {
		o(&cfg)
	}
	u.state = cfg.State
	s, err := NewSync(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u.Sync = s
	u.stop = func() {}
	return u
}

// run starts u.Run, stopped (and waited for) when the test ends or stop
// is called.
func (u *syncUnderTest) run(t testing.TB) *syncUnderTest {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	var once sync.Once
	u.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(u.stop)
	return u
}

// waitReady waits until u has caught up.
func (u *syncUnderTest) waitReady(t testing.TB) {
	t.Helper()
	checkFor(t, 20*time.Second, 5*time.Millisecond, u.Ready)
}

// waitOutcome waits until OnStatement reported kindReason n times.
func (u *syncUnderTest) waitOutcome(t testing.TB, kindReason string, n int) {
	t.Helper()
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got := u.outcomes.count(kindReason); got < n {
			return fmt.Errorf("%s reported %d times, want %d", kindReason, got, n)
		}
		return nil
	})
}

// put stores raw under key through c.
func put(t testing.TB, c *Conn, key string, raw []byte) {
	t.Helper()
	if _, err := c.PutState(testCtx(t), key, raw); err != nil {
		t.Fatalf("PutState(%s): %v", key, err)
	}
}

// testLogger logs to the test at warn level and above, so a failing test
// shows what the Sync refused. Set it to debug when investigating.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}
