package trust

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Test provinces. 120000 appears in the trust list only as removed.
const (
	gd      = "440000" // Guangdong
	sh      = "310000" // Shanghai
	bj      = "110000" // Beijing, suspended in the fixture
	removed = "120000" // Tianjin, removed from the federation
)

// testNow is "now" for every test: time is always passed in, never read.
var testNow = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// greenContent is already-masked content every good code carries.
var greenContent = Content{Status: Green, Name: "张*", Doc: "****1234"}

// testProvince is one province's key material, with every lifecycle state
// represented, relative to the now it was built for:
//   - Retired signed from now-8d until now-1d and verifies until now+6d;
//   - Active signs from now-1d until now+14d;
//   - Next is published and signs from now+1d;
//   - Compromised was active until recently and must reject everything.
type testProvince struct {
	ID          string
	Root        *ecdsa.PrivateKey // signs keysets
	Active      *StatementSigner
	Next        *StatementSigner
	Retired     *StatementSigner
	Compromised *StatementSigner
	Enc         *ecdsa.PrivateKey // receives content-key grants
	CK          ContentKey
	Keys        map[string]*Key // by kid, as a peer's snapshot holds them
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSigner(t testing.TB, k *ecdsa.PrivateKey) *StatementSigner {
	t.Helper()
	s, err := NewStatementSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestProvince(t testing.TB, id string, now time.Time) *testProvince {
	t.Helper()
	day := 24 * time.Hour
	p := &testProvince{
		ID: id, Root: mustKey(t), Enc: mustKey(t),
		Active: mustSigner(t, mustKey(t)), Next: mustSigner(t, mustKey(t)),
		Retired: mustSigner(t, mustKey(t)), Compromised: mustSigner(t, mustKey(t)),
		Keys: map[string]*Key{},
	}
	add := func(s *StatementSigner, st KeyState, nbf, retired, exp time.Time) {
		p.Keys[s.KeyID()] = &Key{ID: s.KeyID(), State: st, NotBefore: nbf, RetiredAt: retired, Expires: exp, Public: s.Public()}
	}
	add(p.Active, KeyActive, now.Add(-day), time.Time{}, now.Add(14*day))
	add(p.Next, KeyNext, now.Add(day), time.Time{}, now.Add(21*day))
	add(p.Retired, KeyRetired, now.Add(-8*day), now.Add(-day), now.Add(6*day))
	add(p.Compromised, KeyCompromised, now.Add(-20*day), time.Time{}, now.Add(day))
	// withAEAD, as where a node's keys enter trust (NewContentKey, State).
	p.CK = ContentKey{ID: ContentKeyID(id, now.Format("2006-01-02")), Key: fixedBytes(id, ContentKeyLen),
		NotBefore: now.Add(-10 * day), Expires: now.Add(10 * day)}.withAEAD()
	return p
}

// fixedBytes derives n bytes from a label, for keys whose value does not matter.
func fixedBytes(label string, n int) []byte {
	h := sha256.Sum256([]byte(label))
	return h[:n]
}

// key returns the snapshot's view of the key behind s.
func (p *testProvince) key(s *StatementSigner) *Key { return p.Keys[s.KeyID()] }

// issuer prepares a CodeIssuer for signer s with the province content key.
func (p *testProvince) issuer(t testing.TB, s *StatementSigner) *CodeIssuer {
	t.Helper()
	ci, err := NewCodeIssuer(p.ID, s, p.key(s).Expires, p.CK)
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

// issue makes a code signed by s, valid from iat for d, and returns its text.
func (p *testProvince) issue(t testing.TB, s *StatementSigner, iat time.Time, d time.Duration) (string, Claims) {
	t.Helper()
	code, cl, err := p.issuer(t, s).Issue(mustJTI(t), iat, iat.Add(d), greenContent)
	if err != nil {
		t.Fatal(err)
	}
	return code, cl
}

// good issues a phone code with the active key at now.
func (p *testProvince) good(t testing.TB, now time.Time) (string, Claims) {
	t.Helper()
	return p.issue(t, p.Active, now, DefaultCodeLifetime)
}

// seal encrypts any content (masked or not) under ck, bypassing Issue's check.
func seal(t testing.TB, ck ContentKey, c any) string {
	t.Helper()
	plain, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := sealContent(ck, plain)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// claims returns well-formed claims of p for [iat, iat+d) with sealed content.
func (p *testProvince) claims(t testing.TB, iat time.Time, d time.Duration) Claims {
	t.Helper()
	return Claims{Issuer: p.ID, JTI: mustJTI(t), IssuedAt: iat.Unix(), Expires: iat.Add(d).Unix(),
		Version: FormatVersion, CT: seal(t, p.CK, greenContent)}
}

// signCode signs any payload as a code with s, skipping Issue's clamping.
func signCode(t testing.TB, s *StatementSigner, payload any) string {
	t.Helper()
	jws, err := s.Sign(TypCode, payload)
	if err != nil {
		t.Fatal(err)
	}
	return CodePrefix + jws
}

func mustJTI(t testing.TB) string {
	t.Helper()
	j, err := NewJTI(nil)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// testFederation is three member provinces and one removed, and a
// verifier's Snapshot of all of them.
type testFederation struct {
	Now        time.Time
	GD, SH, BJ *testProvince
	Removed    *testProvince
	Snap       *Snapshot
}

func newTestFederation(t testing.TB, now time.Time) *testFederation {
	t.Helper()
	f := &testFederation{Now: now,
		GD: newTestProvince(t, gd, now), SH: newTestProvince(t, sh, now),
		BJ: newTestProvince(t, bj, now), Removed: newTestProvince(t, removed, now)}
	f.Snap = &Snapshot{Members: map[string]Member{}, Keys: map[string]map[string]*Key{},
		ContentKeys: map[string]map[string]ContentKey{}, StaleAfter: now.Add(24 * time.Hour)}
	for p, st := range map[*testProvince]MemberStatus{f.GD: MemberActive, f.SH: MemberActive, f.BJ: MemberSuspended, f.Removed: MemberRemoved} {
		kid, err := Thumbprint(&p.Root.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		f.Snap.Members[p.ID] = Member{ID: p.ID, Name: "province " + p.ID, Status: st, Root: &p.Root.PublicKey, RootKID: kid}
		f.Snap.Keys[p.ID] = p.Keys
		f.Snap.ContentKeys[p.ID] = map[string]ContentKey{p.CK.ID: p.CK}
	}
	return f
}

// revokedList is a RevocationSet of explicit (iss, jti) pairs.
type revokedList map[[2]string]bool

func (r revokedList) Revoked(iss, jti string) bool { return r[[2]string{iss, jti}] }

// b64 is unpadded base64url, the encoding of every JWS part.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// forgeJWS builds a compact JWS by hand from exact header and payload
// bytes, signed ES256 with key: the way an attacker with a key, or a
// foreign implementation, would, with none of go-jose's normalisation.
func forgeJWS(t testing.TB, key *ecdsa.PrivateKey, header, payload string) string {
	t.Helper()
	input := b64([]byte(header)) + "." + b64([]byte(payload))
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

// codeHeader is the canonical protected header of a code signed by kid.
func codeHeader(kid string) string {
	return `{"alg":"ES256","kid":"` + kid + `","typ":"` + TypCode + `"}`
}

// splitJWS returns the three parts of a compact JWS (without the code prefix).
func splitJWS(t testing.TB, s string) (h, p, sig string) {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(s, CodePrefix), ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	return parts[0], parts[1], parts[2]
}

// malleate returns the other valid encoding of an ES256 signature: (r, n-s).
func malleate(t testing.TB, code string) string {
	t.Helper()
	h, p, sig64 := splitJWS(t, code)
	sig, err := base64.RawURLEncoding.DecodeString(sig64)
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %v (%d bytes)", err, len(sig))
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	out := make([]byte, 64)
	copy(out, sig[:32])
	s.FillBytes(out[32:])
	return CodePrefix + h + "." + p + "." + b64(out)
}

// wantReason fails the test unless err carries reason want.
func wantReason(t testing.TB, err error, want Reason) {
	t.Helper()
	if got := ReasonOf(err); got != want {
		t.Fatalf("reason = %q (err %v), want %q", got, err, want)
	}
}

// b64Decode is the strict inverse of b64.
func b64Decode(s string) ([]byte, error) { return base64.RawURLEncoding.Strict().DecodeString(s) }

// keyset describes p's keys (sorted by kid) and encryption key, issued at
// now and valid for a week.
func (p *testProvince) keyset(t testing.TB, version uint64, now time.Time) Keyset {
	t.Helper()
	ks := Keyset{Issuer: p.ID, Version: version, IssuedAt: now.Unix(), Expires: now.Add(7 * 24 * time.Hour).Unix()}
	for _, s := range []*StatementSigner{p.Active, p.Compromised, p.Next, p.Retired} {
		e, err := KeysetEntryFor(p.key(s))
		if err != nil {
			t.Fatal(err)
		}
		ks.Keys = append(ks.Keys, e)
	}
	enc, err := EncJWK(&p.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ks.Enc = enc
	return ks
}

// signedKeyset is p's keyset statement, signed by p's root.
func (p *testProvince) signedKeyset(t testing.TB, version uint64, now time.Time) string {
	t.Helper()
	raw, err := SignKeyset(p.Root, p.keyset(t, version, now))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// testOperators are federation operators: ids op1..opN and their keys.
type testOperators struct {
	IDs  []string
	Keys []*ecdsa.PrivateKey
}

func newOperators(t testing.TB, prefix string, n int) *testOperators {
	t.Helper()
	ops := &testOperators{}
	for i := range n {
		ops.IDs = append(ops.IDs, prefix+string(rune('1'+i)))
		ops.Keys = append(ops.Keys, mustKey(t))
	}
	return ops
}

func (o *testOperators) entries(t testing.TB) []Operator {
	t.Helper()
	var out []Operator
	for i, k := range o.Keys {
		out = append(out, Operator{ID: o.IDs[i], Name: "operator " + o.IDs[i], JWK: jwkJSON(t, &k.PublicKey)})
	}
	return out
}

func jwkJSON(t testing.TB, pub *ecdsa.PublicKey) json.RawMessage {
	t.Helper()
	jwk, err := PublicJWK(pub, "sig")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jwk)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trustList is f's federation "hcfed-test" at version v: every province
// with its fixture status, threshold k of ops, valid for 30 days from now.
func (f *testFederation) trustList(t testing.TB, ops *testOperators, k int, v uint64) TrustList {
	t.Helper()
	tl := TrustList{Federation: "hcfed-test", Version: v, IssuedAt: f.Now.Unix(),
		Expires: f.Now.Add(30 * 24 * time.Hour).Unix(), Threshold: k, Operators: ops.entries(t)}
	for _, p := range []*testProvince{f.BJ, f.Removed, f.SH, f.GD} {
		tl.Members = append(tl.Members, MemberEntry{ID: p.ID, Name: "province " + p.ID,
			Root: jwkJSON(t, &p.Root.PublicKey), Status: f.Snap.Members[p.ID].Status,
			Endpoints: []string{"https://" + p.ID + ".hcfed.test"}})
	}
	return tl
}

// signTrustList marshals tl and has each key sign it, in order.
func signTrustList(t testing.TB, tl TrustList, keys ...*ecdsa.PrivateKey) []byte {
	t.Helper()
	payload, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	var doc []byte
	for _, k := range keys {
		if doc, err = SignTrustList(doc, payload, k); err != nil {
			t.Fatal(err)
		}
	}
	return doc
}

func mustParseTrustList(t testing.TB, doc []byte) *ParsedTrustList {
	t.Helper()
	p, err := ParseTrustList(doc)
	if err != nil {
		t.Fatalf("ParseTrustList: %v", err)
	}
	return p
}

// hmacSHA256 is HS256 over input: what a key-confusion forger computes.
func hmacSHA256(key []byte, input string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return mac.Sum(nil)
}

// quoteGo writes s as a Go string literal, the form of fuzz corpus files.
func quoteGo(s string) string { return strconv.Quote(s) }

// tlHeaderFor is the canonical protected header of a signature by key.
func tlHeaderFor(t testing.TB, key *ecdsa.PrivateKey, typ string) string {
	t.Helper()
	kid, err := Thumbprint(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return `{"alg":"ES256","kid":"` + kid + `","typ":"` + typ + `"}`
}

// sealWithHeader encrypts plain as a compact dir/A256GCM JWE under exactly
// the given protected header, which is also the AAD: a content ciphertext
// that authenticates whatever its header says.
func sealWithHeader(t testing.TB, key []byte, header string, plain []byte) string {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	iv := make([]byte, gcmIVLen)
	if _, err := rand.Read(iv); err != nil {
		t.Fatal(err)
	}
	h64 := b64([]byte(header))
	sealed := aead.Seal(nil, iv, plain, []byte(h64))
	n := len(sealed) - gcmTagLen
	return h64 + ".." + b64(iv) + "." + b64(sealed[:n]) + "." + b64(sealed[n:])
}
