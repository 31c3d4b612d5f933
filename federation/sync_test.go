package federation

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// publishRev publishes p's delta seq through c.
func publishRev(t testing.TB, c *Conn, p string, seq uint64, raw []byte) {
	t.Helper()
	if err := c.PublishRevocation(testCtx(t), p, seq, raw); err != nil {
		t.Fatalf("PublishRevocation(%s, %d): %v", p, seq, err)
	}
}

// guangdongListed starts a NATS server with the fixture's trust list
// published by the operator and Guangdong's first keyset by Guangdong,
// and returns the fixture, the server and Guangdong's connection.
func guangdongListed(t *testing.T) (*fixture, *Server, *Conn) {
	t.Helper()
	f := newFixture(t)
	s := runServer(t)
	op := connectReady(t, s, "")
	gdc := connectReady(t, s, gd)
	put(t, op, "trustlist", f.trustList)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	return f, s, gdc
}

func TestSyncAppliesKeysetGrantAndRevocation(t *testing.T) {
	t.Parallel()
	f, s, gdc := guangdongListed(t)
	put(t, gdc, "440000.contentkey.310000", f.grant(gd, sh))
	put(t, gdc, "440000.contentkey.110000", f.grant(gd, bj)) // another node's: ignored
	publishRev(t, gdc, gd, 1, f.revocation(gd, 1))

	u := f.newSync(connectReady(t, s, sh), sh).run(t)
	u.waitReady(t)

	snap := u.state.Snapshot()
	if _, ok := snap.Keys[gd][f.p(gd).signer.KeyID()]; !ok {
		t.Errorf("signing key of %s not held: %v", gd, snap.Keys[gd])
	}
	if _, ok := snap.ContentKeys[gd][f.p(gd).ck.ID]; !ok {
		t.Errorf("content key of %s not held: %v", gd, snap.ContentKeys[gd])
	}
	if !u.state.Revoked(gd, jti(gd, 1)) || u.state.RevocationSeq(gd) != 1 {
		t.Errorf("revocation 1 of %s not applied (seq %d)", gd, u.state.RevocationSeq(gd))
	}
	if got := u.peers.all(); !slices.Equal(got, []string{gd}) {
		t.Errorf("OnPeerKeyset calls %v, want [%s]", got, gd)
	}
	for _, kr := range []string{"keyset/ok", "contentkey/ok", "revocations/ok"} {
		if n := u.outcomes.count(kr); n != 1 {
			t.Errorf("%s reported %d times, want 1", kr, n)
		}
	}
	if st := u.Stats(); st.Rejected != 0 || st.Pending != 0 || st.Blocked != 0 {
		t.Errorf("stats %+v: the grant to 110000 must be ignored, not rejected", st)
	}
	// The cache is written off the lock, after the state changed.
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		for key, version := range map[string]uint64{"trustlist": 1, "440000.keyset": 1, "440000.revocations.1": 1} {
			if c, ok := u.cache.Get(key); !ok || c.Version != version {
				return fmt.Errorf("cache[%s] = %+v, %v; want version %d", key, c, ok, version)
			}
		}
		if _, ok := u.cache.Get("440000.contentkey.310000"); !ok {
			return errors.New("grant not cached")
		}
		if c, _ := u.cache.RevocationCursor(t.Context()); c != 1 {
			return fmt.Errorf("cursor %d, want 1", c)
		}
		return nil
	})

	// Live updates keep coming: a new keyset and the next delta.
	put(t, gdc, "440000.keyset", f.keyset(gd, 2))
	publishRev(t, gdc, gd, 2, f.revocation(gd, 2))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if ks := u.state.Keyset(gd); ks == nil || ks.Version != 2 || !u.state.Revoked(gd, jti(gd, 2)) {
			return errors.New("keyset v2 or revocation 2 not applied")
		}
		return nil
	})
}

// forgedKeysetWait is TestSyncDropsForgedStatementsAndGoesOn's
// SyncConfig.KeysetWait: how long a forged statement of an unknown key is
// held before it is refused.
const forgedKeysetWait = 100 * time.Millisecond

// TestSyncDropsForgedStatementsAndGoesOn publishes forged statements
// straight onto NATS, from a connection with no province (as a rogue with
// the transport would), each followed by a valid heartbeat that must
// still be applied. Statements signed by a key 440000's keyset does not
// hold wait for a keyset that does, at most KeysetWait, and are then
// refused as unknown_key. The wait is short here (forgedKeysetWait):
// nothing genuine in this test waits for a keyset, and each of the three
// such forgeries waited out a whole second plus the sync's worker tick.
func TestSyncDropsForgedStatementsAndGoesOn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := runServer(t)
	rogue := connectReady(t, s, "", func(c *ConnConfig) { c.MaxRevocationLen = 1 << 20 })
	gdc := connectReady(t, s, gd)
	put(t, gdc, "440000.keyset", f.keyset(gd, 2))
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) { c.KeysetWait = forgedKeysetWait }).run(t)
	u.waitReady(t)

	v3 := string(f.keyset(gd, 3))
	other := string(f.keyset(gd, 4))
	badSig := v3[:strings.LastIndexByte(v3, '.')] + other[strings.LastIndexByte(other, '.'):]
	grantByBJ, err := trust.GrantContentKey(f.p(bj).signer, gd, sh, &f.p(sh).enc.PublicKey, f.p(gd).ck, f.now)
	if err != nil {
		t.Fatal(err)
	}
	grantInBJsName, err := trust.GrantContentKey(f.p(gd).signer, bj, sh, &f.p(sh).enc.PublicKey, f.p(gd).ck, f.now)
	if err != nil {
		t.Fatal(err)
	}
	hbInBJsName, err := f.p(gd).signer.Sign(trust.TypHeartbeat, trust.Heartbeat{Issuer: bj, IssuedAt: f.now.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte("\x00\x01 not a statement at all")
	oversized := bytes.Repeat([]byte("A"), trust.MaxStatementLen+1)

	heartbeats := 0
	for _, tc := range []struct {
		name string
		key  string
		raw  []byte
		want string // kind/reason
	}{
		{"bad signature", "440000.keyset", []byte(badSig), "keyset/bad_signature"},
		{"keyset of 310000 signed by 440000's root", "310000.keyset", f.keysetBy(sh, 9, f.p(gd).root), "keyset/wrong_signer"},
		{"replayed old keyset version", "440000.keyset", f.keyset(gd, 1), "keyset/rollback"},
		{"wrong typ", "440000.keyset", f.revocation(gd, 1), "keyset/wrong_type"},
		{"garbage bytes", "440000.keyset", garbage, "keyset/malformed"},
		{"oversized statement", "440000.keyset", oversized, "keyset/oversized"},
		{"grant signed by another province's key", "440000.contentkey.310000", []byte(grantByBJ), "contentkey/unknown_key"},
		{"heartbeat of 110000 under 440000", "440000.heartbeat", f.heartbeat(bj, f.now, 0), "heartbeat/unknown_key"},
		{"grant in 110000's name signed by 440000's key", "440000.contentkey.310000", []byte(grantInBJsName), "contentkey/wrong_signer"},
		{"heartbeat in 110000's name signed by 440000's key", "440000.heartbeat", []byte(hbInBJsName), "heartbeat/wrong_signer"},
		{"garbage trust list", "trustlist", garbage, "trustlist/malformed"},
		{"garbage snapshot pointer", "440000.revsnapshot", garbage, "revsnapshot/malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			put(t, rogue, tc.key, tc.raw)
			u.waitOutcome(t, tc.want, 1)
			heartbeats++
			put(t, gdc, "440000.heartbeat", f.heartbeat(gd, f.now.Add(time.Duration(heartbeats)*time.Second), 0))
			u.waitOutcome(t, "heartbeat/ok", heartbeats)
		})
	}

	// The revocation stream: a delta with another delta's signature, a
	// delta signed by another province, and one over the transport's
	// limit (dropped by the Conn before the Sync sees it). Each forgery
	// claims seq 1 but is published under its own message id, or the
	// stream would deduplicate them.
	d1, d2 := string(f.revocation(gd, 1)), string(f.revocation(gd, 2))
	publishRev(t, rogue, gd, 901, []byte(d1[:strings.LastIndexByte(d1, '.')]+d2[strings.LastIndexByte(d2, '.'):]))
	u.waitOutcome(t, "revocations/bad_signature", 1)
	publishRev(t, rogue, gd, 902, f.revocationOf(bj, 1, f.entries(gd, 1, 2)))
	u.waitOutcome(t, "revocations/unknown_key", 1)
	publishRev(t, rogue, gd, 903, bytes.Repeat([]byte("A"), DefaultMaxRevocationLen+1))
	publishRev(t, gdc, gd, 1, f.revocation(gd, 1))
	u.waitOutcome(t, "revocations/ok", 1)
	if !u.state.Revoked(gd, jti(gd, 1)) {
		t.Error("the valid delta after the forged ones was not applied")
	}
	if st := u.conn.Stats(); st.RevocationsOversized != 1 {
		t.Errorf("oversized delta: conn stats %+v", st)
	}

	// Nothing forged took hold; the genuine keyset still does.
	if ks := u.state.Keyset(gd); ks == nil || ks.Version != 2 {
		t.Fatalf("keyset of %s after the forgeries: %+v", gd, ks)
	}
	if ks := u.state.Keyset(sh); ks != nil {
		t.Errorf("forged keyset of %s applied: v%d", sh, ks.Version)
	}
	put(t, gdc, "440000.keyset", f.keyset(gd, 3))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if ks := u.state.Keyset(gd); ks.Version != 3 {
			return fmt.Errorf("keyset v%d, want v3", ks.Version)
		}
		return nil
	})
	if st := u.Stats(); st.Rejected != 14 {
		t.Errorf("stats %+v, want 14 rejections", st)
	}
}

// TestSyncResolvesOutOfOrderArrival delivers statements before what they
// depend on: a delta and a grant before their issuer's keyset, and a
// keyset before the trust list naming its province.
func TestSyncResolvesOutOfOrderArrival(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.trustList = f.signTrustList(1, map[string]trust.MemberStatus{gd: trust.MemberActive, sh: trust.MemberActive})
	v2 := f.signTrustList(2, map[string]trust.MemberStatus{gd: trust.MemberActive, sh: trust.MemberActive, bj: trust.MemberActive})
	s := runServer(t)
	op := connectReady(t, s, "")
	gdc := connectReady(t, s, gd)
	bjc := connectReady(t, s, bj)
	u := f.newSync(connectReady(t, s, sh), sh).run(t)
	u.waitReady(t)

	publishRev(t, gdc, gd, 1, f.revocation(gd, 1))
	put(t, gdc, "440000.contentkey.310000", f.grant(gd, sh))
	put(t, bjc, "110000.contentkey.310000", f.grant(bj, sh))
	put(t, bjc, "110000.keyset", f.keyset(bj, 1))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); st.Pending != 3 || st.Parked != 1 {
			return fmt.Errorf("stats %+v: want 3 statements pending and 1 delta parked", st)
		}
		return nil
	})
	if u.state.Revoked(gd, jti(gd, 1)) {
		t.Fatal("delta applied without its keyset")
	}

	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !u.state.Revoked(gd, jti(gd, 1)) || len(u.state.ContentKeyIDs(gd)) != 1 {
			return errors.New("the delta and grant of 440000 are not applied after its keyset")
		}
		return nil
	})
	if st := u.Stats(); st.Pending != 2 || st.Blocked != 0 {
		t.Fatalf("stats %+v: 110000's keyset and grant must still wait", st)
	}

	put(t, op, "trustlist", v2)
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if u.state.Keyset(bj) == nil || len(u.state.ContentKeyIDs(bj)) != 1 {
			return errors.New("110000's keyset and grant are not applied after trust list v2")
		}
		return nil
	})
	if st := u.Stats(); st.Rejected != 0 || st.Pending != 0 || st.Parked != 0 {
		t.Errorf("stats %+v", st)
	}
	if got := u.peers.all(); !slices.Equal(got, []string{gd, bj}) {
		t.Errorf("OnPeerKeyset calls %v", got)
	}
}

func TestPendingSetDropsTheOldestWhenFull(t *testing.T) {
	t.Parallel()
	ps := pendingSet{max: 2}
	now := time.Now()
	st := func(key string) statement {
		return statement{topic: Topic{Kind: KindKeyset}, key: key, raw: []byte(key)}
	}
	for i, key := range []string{"a", "b"} {
		if _, full := ps.put(st(key), trust.ReasonUnknownIssuer, now.Add(time.Duration(i)*time.Second), false); full {
			t.Fatalf("full after %d", i+1)
		}
	}
	// A newer value for a held key replaces it and takes no more room.
	if _, full := ps.put(statement{topic: Topic{Kind: KindKeyset}, key: "a", raw: []byte("a2")}, trust.ReasonUnknownIssuer, now.Add(2*time.Second), false); full {
		t.Fatal("full after replacing a value")
	}
	ev, full := ps.put(st("c"), trust.ReasonUnknownIssuer, now.Add(3*time.Second), false)
	if !full || ev.st.key != "b" {
		t.Fatalf("evicted %q (full %v), want the oldest, b", ev.st.key, full)
	}
	var keys []string
	for _, it := range ps.drain() {
		keys = append(keys, it.st.key+"="+string(it.st.raw))
	}
	if !slices.Equal(keys, []string{"a=a2", "c=c"}) || ps.len() != 0 {
		t.Fatalf("drained %v, left %d", keys, ps.len())
	}
}
