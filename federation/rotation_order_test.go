package federation

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// keysetOfTwo is gd's keyset version v, issued at iat, listing the
// fixture's signing key in state first and next's key in state second.
func (f *fixture) keysetOfTwo(v uint64, iat time.Time, first trust.KeyState, next *trust.StatementSigner, second trust.KeyState) []byte {
	t := f.t
	t.Helper()
	p := f.p(gd)
	var es []trust.KeysetEntry
	for _, k := range []*trust.Key{
		{ID: p.signer.KeyID(), State: first, NotBefore: f.now.Add(-time.Hour), Expires: f.now.Add(14 * 24 * time.Hour), Public: p.signer.Public()},
		{ID: next.KeyID(), State: second, NotBefore: f.now, Expires: f.now.Add(14 * 24 * time.Hour), Public: next.Public()},
	} {
		if k.State == trust.KeyRetired {
			k.RetiredAt = f.now
		}
		e, err := trust.KeysetEntryFor(k)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	enc, err := trust.EncJWK(&p.enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := trust.SignKeyset(p.root, trust.Keyset{Issuer: gd, Version: v, IssuedAt: iat.Unix(),
		Expires: f.now.Add(7 * 24 * time.Hour).Unix(), Keys: es, Enc: enc})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(raw)
}

// TestDeltaOfAKeyNotYetActiveWaitsForTheKeysetThatActivatesIt: after a
// rotation the new key's first revocation (on the stream) can arrive
// before the keyset that makes the key active (in the bucket). The delta
// must wait for that keyset rather than be dropped, or peers keep
// accepting a revoked code. A keyset issued after the delta that still
// does not make its key active refuses it.
func TestDeltaOfAKeyNotYetActiveWaitsForTheKeysetThatActivatesIt(t *testing.T) {
	t.Parallel()
	f, gdc, u, k2 := withNextKey(t)
	delta := func(seq uint64, at time.Time) []byte {
		raw, err := k2.Sign(trust.TypRevocation, trust.Revocation{Issuer: gd, Seq: seq, IssuedAt: at.Unix(),
			Entries: f.entries(gd, int(seq), int(seq)+1)})
		if err != nil {
			t.Fatal(err)
		}
		return []byte(raw)
	}
	publishRev(t, gdc, gd, 1, delta(1, f.now))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); st.Parked != 1 {
			return fmt.Errorf("stats %+v: want the delta parked", st)
		}
		return nil
	})
	if u.state.Revoked(gd, jti(gd, 1)) || u.outcomes.count("revocations/key_not_active") != 0 {
		t.Fatal("a delta of a key not yet active was applied or dropped")
	}

	put(t, gdc, "440000.keyset", f.keysetOfTwo(2, f.now, trust.KeyRetired, k2, trust.KeyActive))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !u.state.Revoked(gd, jti(gd, 1)) {
			return fmt.Errorf("delta not applied after the keyset activating its key")
		}
		return nil
	})

	// A delta older than a keyset that lists its key as next again (a
	// key that was never activated) will never verify: refused.
	put(t, gdc, "440000.keyset", f.keysetOfTwo(3, f.now.Add(time.Minute), trust.KeyActive, k2, trust.KeyNext))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if ks := u.state.Keyset(gd); ks.Version != 3 {
			return fmt.Errorf("keyset v3 not applied")
		}
		return nil
	})
	publishRev(t, gdc, gd, 2, delta(2, f.now))
	u.waitOutcome(t, "revocations/key_not_active", 1)
	if u.state.Revoked(gd, jti(gd, 2)) {
		t.Fatal("a delta whose key is not active in a later keyset was applied")
	}
}

// TestForgedDeltaNamingANextKeyDoesNotBlockTheProvince: a delta whose
// header names the province's published next key but whose signature is
// not that key's is a forgery, not a statement waiting for the keyset
// that activates its key. It is refused at once, and the province's
// genuine deltas go on applying instead of being parked behind it until
// a keyset or snapshot comes.
func TestForgedDeltaNamingANextKeyDoesNotBlockTheProvince(t *testing.T) {
	t.Parallel()
	f, gdc, u, k2 := withNextKey(t)

	// k2's header on a statement signed by another key.
	other, err := trust.NewStatementSigner(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Sign(trust.TypRevocation, trust.Revocation{Issuer: gd, Seq: 1, IssuedAt: f.now.Unix(),
		Entries: f.entries(gd, 100, 101)})
	if err != nil {
		t.Fatal(err)
	}
	ofK2, err := k2.Sign(trust.TypRevocation, trust.Revocation{Issuer: gd})
	if err != nil {
		t.Fatal(err)
	}
	forged = ofK2[:strings.IndexByte(ofK2, '.')] + forged[strings.IndexByte(forged, '.'):]

	publishRev(t, gdc, gd, 1, []byte(forged))
	publishRev(t, gdc, gd, 1, f.revocation(gd, 1))
	publishRev(t, gdc, gd, 2, f.revocation(gd, 2))
	u.waitOutcome(t, "revocations/bad_signature", 1)
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 2) })
	if u.state.Revoked(gd, jti(gd, 100)) {
		t.Error("the forged delta was applied")
	}
	if st := u.Stats(); st.Blocked != 0 || st.Parked != 0 {
		t.Errorf("stats %+v: want nothing blocked or parked", st)
	}
}

// withNextKey starts a server, 440000's connection and a running Sync of
// 310000 that holds 440000's keyset version 1: the fixture's key active
// and k2, returned, published as its next key.
func withNextKey(t *testing.T) (*fixture, *Conn, *syncUnderTest, *trust.StatementSigner) {
	t.Helper()
	f := newFixture(t)
	s := runServer(t)
	gdc := connectReady(t, s, gd)
	u := f.newSync(connectReady(t, s, sh), sh).run(t)
	u.waitReady(t)
	k2, err := trust.NewStatementSigner(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	put(t, gdc, "440000.keyset", f.keysetOfTwo(1, f.now.Add(-time.Minute), trust.KeyActive, k2, trust.KeyNext))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if ks := u.state.Keyset(gd); ks == nil || ks.Version != 1 {
			return fmt.Errorf("keyset v1 not applied")
		}
		return nil
	})
	return f, gdc, u, k2
}
