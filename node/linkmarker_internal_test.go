package node

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// testCodeIssuer is a code issuer whose signing key expires at keyExp.
func testCodeIssuer(t *testing.T, now, keyExp time.Time) *trust.CodeIssuer {
	t.Helper()
	key, err := trust.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := trust.NewStatementSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := trust.NewContentKey("ck1", now.Add(-time.Hour), now.Add(30*24*time.Hour), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := trust.NewCodeIssuer("440000", signer, keyExp, ck)
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

// markerTime is the time a code id begins with (trust.NewCodeID).
func markerTime(t *testing.T, jti string) time.Time {
	t.Helper()
	b, err := base64.RawURLEncoding.Strict().DecodeString(jti)
	if err != nil || len(b) != trust.JTILen {
		t.Fatalf("%q is not a code id: %v", jti, err)
	}
	var ms int64
	for _, c := range b[:codeIDTimeLen] {
		ms = ms<<8 | int64(c)
	}
	return time.UnixMilli(ms)
}

// TestLinkMarkerIsACodeIDOfItsTime: a marker begins with a time within
// one code lifetime before it is made, as the id trust.NewCodeID makes
// for a code issued then, and expires exactly when a phone code issued
// then expires (Issue's claims), also when the signing key's expiry cuts
// that code's life; two markers of one resident differ.
func TestLinkMarkerIsACodeIDOfItsTime(t *testing.T) {
	t.Parallel()
	lm := newLinkMarker(bytes.Repeat([]byte{1}, 32))
	now := time.Unix(1_800_000_000, 123_456_789)
	const life = 24 * time.Hour
	for name, keyExp := range map[string]time.Time{"key far from expiry": now.Add(30 * 24 * time.Hour),
		"key expiring within a code lifetime": now.Add(5 * time.Hour)} {
		ci := testCodeIssuer(t, now, keyExp)
		expiry := func(iat time.Time) time.Time { return ci.Expiry(iat, iat.Add(life)) }
		seen := map[string]bool{}
		for i := range 500 {
			m, err := lm.entry("s_resident", now, life, expiry, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if seen[m.JTI] {
				t.Fatalf("%s: marker %d repeats %s: a peer could link a resident's markers", name, i, m.JTI)
			}
			seen[m.JTI] = true
			at := markerTime(t, m.JTI)
			if !at.After(now.Add(-life)) || at.After(now) {
				t.Fatalf("%s: marker %s is of %v, not within a code lifetime before %v", name, m.JTI, at, now)
			}
			// Its first bytes are the id of a code issued at its time.
			want, err := trust.NewCodeID(at, bytes.NewReader(make([]byte, trust.JTILen)))
			if err != nil {
				t.Fatal(err)
			}
			if m.JTI[:8] != want[:8] {
				t.Fatalf("%s: marker %s does not begin as the code ids of %v do (%s)", name, m.JTI, at, want)
			}
			_, cl, err := ci.Issue(m.JTI, at, at.Add(life), trust.Content{Status: trust.Green, Name: "张*", Doc: "****0011"})
			if err != nil {
				t.Fatal(err)
			}
			if !m.Expires.Equal(time.Unix(cl.Expires, 0)) {
				t.Fatalf("%s: marker of %v expires %v; a code issued then expires %v", name, at, m.Expires, time.Unix(cl.Expires, 0))
			}
		}
	}
}

// TestLinkMarkersNameTheirResidentToTheirKeyOnly: a marker is read
// back, with the key that made it, as its resident's among the residents
// holding a link, and as nobody's with another key; real code ids
// (NewCodeID) name nobody, and the residents are listed only if some
// statement has an entry.
func TestLinkMarkersNameTheirResidentToTheirKeyOnly(t *testing.T) {
	t.Parallel()
	lm, other := newLinkMarker(bytes.Repeat([]byte{1}, 32)), newLinkMarker(bytes.Repeat([]byte{2}, 32))
	now := time.Unix(1_800_000_000, 0)
	const life = 24 * time.Hour
	expiry := func(iat time.Time) time.Time { return time.Unix(iat.Add(life).Unix(), 0) }
	holders := make([]string, 1000)
	for i := range holders {
		holders[i] = fmt.Sprintf("s_%010d", i)
	}
	list := func() ([]string, error) { return holders, nil }
	code := func(at time.Time) store.RevocationEntry {
		jti, err := trust.NewCodeID(at, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return store.RevocationEntry{JTI: jti, Expires: expiry(at)}
	}
	marker := func(subject string) store.RevocationEntry {
		m, err := lm.entry(subject, now, life, expiry, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	pubs := []store.Published{
		{Seq: 1, Entries: []store.RevocationEntry{code(now), marker(holders[7]), code(now.Add(-time.Hour))}},
		{Seq: 2, Entries: []store.RevocationEntry{code(now)}},                       // a status change
		{Seq: 3, Entries: []store.RevocationEntry{marker(holders[7])}},              // replaced again, no live code
		{Seq: 4, Entries: []store.RevocationEntry{marker(holders[999]), code(now)}}, //
		{Seq: 5, Entries: []store.RevocationEntry{marker("s_not_holding_a_link")}},  // a link made since the restore
	}
	if err := lm.nameLinks(pubs, list); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]string{{holders[7]}, nil, {holders[7]}, {holders[999]}, nil} {
		if !slices.Equal(pubs[i].Links, want) {
			t.Errorf("statement %d names the links %v, want %v", pubs[i].Seq, pubs[i].Links, want)
		}
	}

	for i := range pubs {
		pubs[i].Links = nil
	}
	if err := other.nameLinks(pubs, list); err != nil {
		t.Fatal(err)
	}
	for _, p := range pubs {
		if len(p.Links) > 0 {
			t.Errorf("under another key, statement %d names the links %v", p.Seq, p.Links)
		}
	}

	// Real code ids: none names a holder.
	codes := make([]store.RevocationEntry, 200_000)
	for i := range codes {
		codes[i] = code(now.Add(-time.Duration(i) * time.Millisecond))
	}
	real := []store.Published{{Seq: 6, Entries: codes}}
	if err := lm.nameLinks(real, list); err != nil {
		t.Fatal(err)
	}
	if len(real[0].Links) > 0 {
		t.Errorf("real code ids name the links %v", real[0].Links)
	}
	none := []store.Published{{Seq: 7}, {Seq: 8}}
	if err := lm.nameLinks(none, func() ([]string, error) {
		return nil, fmt.Errorf("the holders were listed")
	}); err != nil {
		t.Errorf("statements without entries: %v", err)
	}
}

// oldMarker is subjectID's marker as markers were made before tags had
// linkMarkerTagLen bytes: 6 bytes of tag, then two zero bytes, masked.
func oldMarker(t *testing.T, lm linkMarker, subjectID string, at time.Time) string {
	t.Helper()
	jti, err := trust.NewCodeID(at, rand.Reader) // its time, and a random r
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(jti)
	if err != nil {
		t.Fatal(err)
	}
	tag := lm.tag(subjectID)
	copy(b[linkMarkerHeadLen:], tag[:linkMarkerOldTagLen])
	clear(b[linkMarkerHeadLen+linkMarkerOldTagLen:])
	lm.xorMask(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestLinkMarkersOfSixByteTagsAreStillRead: a marker made before tags
// had 8 bytes (a node restored past an upgrade takes those back too)
// names its resident — and, as it always did, a resident whose tag
// begins as theirs.
func TestLinkMarkersOfSixByteTagsAreStillRead(t *testing.T) {
	t.Parallel()
	lm := newLinkMarker(bytes.Repeat([]byte{1}, 32))
	now := time.Unix(1_800_000_000, 0)
	holders := func() ([]string, error) { return []string{collidingB, "s_0000000007", collidingA, "s_0000000999"}, nil }
	pubs := []store.Published{
		{Seq: 1, Entries: []store.RevocationEntry{{JTI: oldMarker(t, lm, "s_0000000007", now)}}},
		{Seq: 2, Entries: []store.RevocationEntry{{JTI: oldMarker(t, lm, collidingA, now)}}},
	}
	if err := lm.nameLinks(pubs, holders); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]string{{"s_0000000007"}, {collidingB, collidingA}} {
		if !slices.Equal(pubs[i].Links, want) {
			t.Errorf("old marker %d names the links %v, want %v", pubs[i].Seq, pubs[i].Links, want)
		}
	}
}

// Two subject ids whose tags under newLinkMarker(bytes.Repeat([]byte{1},
// 32)) share their first 6 bytes: found by a cycle search (Brent's) over
// the first 6 bytes of the tag, about 2^24 tags. Among ten million
// residents holding a link, two such are there with probability about
// 1/6.
const collidingA, collidingB = "s_95fad03277f2", "s_f1be2ed0e53a"

// TestLinkMarkerOfOneResidentNamesNoOtherWhoseTagBeginsTheSame: a
// marker of one resident names them alone, also among the links of a
// resident whose tag begins as theirs. When markers carried 6 bytes of
// tag, the marker of one named both, and a restore cut the other's link
// (and revoked their phone codes) too.
func TestLinkMarkerOfOneResidentNamesNoOtherWhoseTagBeginsTheSame(t *testing.T) {
	t.Parallel()
	lm := newLinkMarker(bytes.Repeat([]byte{1}, 32))
	a, b := lm.tag(collidingA), lm.tag(collidingB)
	if !bytes.Equal(a[:6], b[:6]) {
		t.Fatalf("the tags of %s and %s begin %x and %x: the test shows nothing", collidingA, collidingB, a[:6], b[:6])
	}
	now := time.Unix(1_800_000_000, 0)
	const life = 24 * time.Hour
	expiry := func(iat time.Time) time.Time { return time.Unix(iat.Add(life).Unix(), 0) }
	holders := func() ([]string, error) { return []string{collidingB, collidingA, "s_someone_else"}, nil }
	for _, owner := range []string{collidingA, collidingB} {
		m, err := lm.entry(owner, now, life, expiry, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pubs := []store.Published{{Seq: 1, Entries: []store.RevocationEntry{m}}}
		if err := lm.nameLinks(pubs, holders); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(pubs[0].Links, []string{owner}) {
			t.Errorf("the marker of %s names the links %v, want its own only", owner, pubs[0].Links)
		}
	}
}
