package trust

import (
	"crypto/ecdsa"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// tlFixture is a federation with operators op1..op3, threshold 2, and its
// trust list v1 installed by pin.
type tlFixture struct {
	*testFederation
	Ops  *testOperators
	Held *ParsedTrustList
}

func newTLFixture(t *testing.T) *tlFixture {
	t.Helper()
	f := &tlFixture{testFederation: newTestFederation(t, testNow), Ops: newOperators(t, "op", 3)}
	held := mustParseTrustList(t, signTrustList(t, f.trustList(t, f.Ops, 2, 1), f.Ops.Keys[0], f.Ops.Keys[1]))
	if err := AcceptTrustList(nil, held, held.SHA256(), f.Now); err != nil {
		t.Fatalf("install v1: %v", err)
	}
	f.Held = held
	return f
}

// next is the held list moved to version v, with edit applied, signed by keys.
func (f *tlFixture) next(t *testing.T, v uint64, edit func(*TrustList), keys ...*ecdsa.PrivateKey) *ParsedTrustList {
	t.Helper()
	tl := f.trustList(t, f.Ops, 2, v)
	if edit != nil {
		edit(&tl)
	}
	return mustParseTrustList(t, signTrustList(t, tl, keys...))
}

func TestParseTrustListReadsMembersOperatorsAndSigners(t *testing.T) {
	f := newTLFixture(t)
	p := f.Held
	if p.Federation != "hcfed-test" || p.Version != 1 || p.Threshold != 2 || len(p.Operators) != 3 || len(p.Members) != 4 {
		t.Fatalf("parsed %s v%d k=%d, %d operators, %d members", p.Federation, p.Version, p.Threshold, len(p.Operators), len(p.Members))
	}
	if !reflect.DeepEqual(p.SignedBy, []string{"op1", "op2"}) {
		t.Fatalf("SignedBy = %v", p.SignedBy)
	}
	m := p.Members[gd]
	rootKID, _ := Thumbprint(&f.GD.Root.PublicKey)
	if m.Status != MemberActive || m.RootKID != rootKID || !m.Root.Equal(&f.GD.Root.PublicKey) || len(m.Endpoints) != 1 {
		t.Fatalf("member %+v", m)
	}
	if p.Members[bj].Status != MemberSuspended || p.Members[removed].Status != MemberRemoved {
		t.Fatal("member statuses not read")
	}
	if !p.ExpiresAt().Equal(f.Now.Add(30 * 24 * time.Hour)) {
		t.Fatalf("ExpiresAt %v", p.ExpiresAt())
	}
}

// A federation with one operator, or any list after its first signature,
// is a single-signature document: it must be written and read in the one
// general serialization too.
func TestSignTrustListWithOneSignatureParsesAndInstalls(t *testing.T) {
	f := newTestFederation(t, testNow)
	ops := newOperators(t, "solo", 1)
	doc := signTrustList(t, f.trustList(t, ops, 1, 1), ops.Keys[0])
	if !strings.Contains(string(doc), `"signatures":[`) {
		t.Fatalf("not the general serialization: %.80s", doc)
	}
	p := mustParseTrustList(t, doc)
	if err := AcceptTrustList(nil, p, p.SHA256(), f.Now); err != nil {
		t.Fatal(err)
	}
}

// Documents that earlier versions wrote in the flattened form can still be
// signed further; the result is the general form.
func TestSignTrustListContinuesFlattenedDocument(t *testing.T) {
	f := newTLFixture(t)
	payload, _ := json.Marshal(f.trustList(t, f.Ops, 2, 2))
	kid, _ := Thumbprint(&f.Ops.Keys[0].PublicKey)
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: f.Ops.Keys[0], KeyID: kid}},
		(&jose.SignerOptions{}).WithType(TypTrustList))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	flat := []byte(obj.FullSerialize())
	wantReason(t, errOf(ParseTrustList(flat)), ReasonMalformed) // read in one form only
	doc, err := SignTrustList(flat, nil, f.Ops.Keys[1])
	if err != nil {
		t.Fatal(err)
	}
	p := mustParseTrustList(t, doc)
	if !reflect.DeepEqual(p.SignedBy, []string{"op1", "op2"}) {
		t.Fatalf("SignedBy = %v", p.SignedBy)
	}
	if err := AcceptTrustList(f.Held, p, "", f.Now); err != nil {
		t.Fatal(err)
	}
}

func errOf[T any](_ T, err error) error { return err }

func TestAcceptTrustListInstallsFirstListOnlyByPinnedHash(t *testing.T) {
	f := newTestFederation(t, testNow)
	ops := newOperators(t, "op", 3)
	p := mustParseTrustList(t, signTrustList(t, f.trustList(t, ops, 2, 1), ops.Keys[0], ops.Keys[1]))
	other := mustParseTrustList(t, signTrustList(t, f.trustList(t, ops, 2, 1), ops.Keys[0], ops.Keys[2]))
	if err := AcceptTrustList(nil, p, p.SHA256(), f.Now); err != nil {
		t.Fatal(err)
	}
	wantReason(t, AcceptTrustList(nil, p, other.SHA256(), f.Now), ReasonWrongSigner)
	wantReason(t, AcceptTrustList(nil, p, "", f.Now), ReasonWrongSigner)
	wantReason(t, AcceptTrustList(nil, p, strings.ToUpper(p.SHA256()), f.Now), ReasonWrongSigner)
	// A pinned list must still meet its own threshold.
	short := mustParseTrustList(t, signTrustList(t, f.trustList(t, ops, 2, 1), ops.Keys[0]))
	wantReason(t, AcceptTrustList(nil, short, short.SHA256(), f.Now), ReasonThreshold)
}

func TestAcceptTrustListAcceptsNextVersionSignedByThreshold(t *testing.T) {
	f := newTLFixture(t)
	for _, signers := range [][]*ecdsa.PrivateKey{
		{f.Ops.Keys[0], f.Ops.Keys[1]},
		{f.Ops.Keys[2], f.Ops.Keys[0]},
		{f.Ops.Keys[0], f.Ops.Keys[1], f.Ops.Keys[2]},
	} {
		if err := AcceptTrustList(f.Held, f.next(t, 2, nil, signers...), "", f.Now); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAcceptTrustListRefusesRollbackAndReplay(t *testing.T) {
	f := newTLFixture(t)
	v2 := f.next(t, 2, nil, f.Ops.Keys[0], f.Ops.Keys[1])
	v3 := f.next(t, 3, nil, f.Ops.Keys[0], f.Ops.Keys[1])
	wantReason(t, AcceptTrustList(v3, v2, "", f.Now), ReasonRollback)
	wantReason(t, AcceptTrustList(v3, v3, "", f.Now), ReasonRollback)
	wantReason(t, AcceptTrustList(v2, f.Held, "", f.Now), ReasonRollback)
}

func TestAcceptTrustListRefusesOneSignatureShortOfThreshold(t *testing.T) {
	f := newTLFixture(t)
	wantReason(t, AcceptTrustList(f.Held, f.next(t, 2, nil, f.Ops.Keys[2]), "", f.Now), ReasonThreshold)
}

// One operator signing twice is one vote.
func TestAcceptTrustListCountsAnOperatorOnce(t *testing.T) {
	f := newTLFixture(t)
	twice := f.next(t, 2, nil, f.Ops.Keys[0], f.Ops.Keys[0])
	if !reflect.DeepEqual(twice.SignedBy, []string{"op1"}) {
		t.Fatalf("SignedBy = %v", twice.SignedBy)
	}
	wantReason(t, AcceptTrustList(f.Held, twice, "", f.Now), ReasonThreshold)
}

func TestSignedWithFindsTheSignatureOfAKeyOperatorOrNot(t *testing.T) {
	f := newTLFixture(t)
	outsider, other := mustKey(t), mustKey(t)
	p := f.next(t, 2, nil, f.Ops.Keys[0], outsider)
	for _, tc := range []struct {
		name string
		key  *ecdsa.PrivateKey
		want bool
	}{{"operator", f.Ops.Keys[0], true}, {"non-operator", outsider, true}, {"operator not signed", f.Ops.Keys[1], false}, {"unknown", other, false}} {
		if got := p.SignedWith(&tc.key.PublicKey); got != tc.want {
			t.Errorf("%s: SignedWith = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAcceptTrustListIgnoresSignaturesOfNonOperators(t *testing.T) {
	f := newTLFixture(t)
	outsider := mustKey(t)
	wantReason(t, AcceptTrustList(f.Held, f.next(t, 2, nil, f.Ops.Keys[0], outsider), "", f.Now), ReasonThreshold)
	// A province root key is not an operator key either.
	wantReason(t, AcceptTrustList(f.Held, f.next(t, 2, nil, f.Ops.Keys[0], f.GD.Root), "", f.Now), ReasonThreshold)
}

// Rotating the operators needs k of the current set and k of the new one:
// an attacker with k keys of its own choosing cannot appoint itself.
func TestAcceptTrustListOperatorRotationNeedsBothThresholds(t *testing.T) {
	f := newTLFixture(t)
	newOps := newOperators(t, "new", 3)
	rotated := func(keys ...*ecdsa.PrivateKey) *ParsedTrustList {
		tl := f.trustList(t, newOps, 2, 2)
		return mustParseTrustList(t, signTrustList(t, tl, keys...))
	}
	// Only the new set signed: a self-appointed federation.
	wantReason(t, AcceptTrustList(f.Held, rotated(newOps.Keys[0], newOps.Keys[1]), "", f.Now), ReasonThreshold)
	// One current operator is not enough to hand over.
	wantReason(t, AcceptTrustList(f.Held, rotated(f.Ops.Keys[0], newOps.Keys[0], newOps.Keys[1]), "", f.Now), ReasonThreshold)
	// The current operators agree, but the new set has not.
	wantReason(t, AcceptTrustList(f.Held, rotated(f.Ops.Keys[0], f.Ops.Keys[1], newOps.Keys[0]), "", f.Now), ReasonThreshold)
	// Both thresholds met.
	if err := AcceptTrustList(f.Held, rotated(f.Ops.Keys[0], f.Ops.Keys[1], newOps.Keys[0], newOps.Keys[2]), "", f.Now); err != nil {
		t.Fatal(err)
	}
	// Lowering the threshold to 1 still needs k of the current operators.
	lowered := f.next(t, 2, func(tl *TrustList) { tl.Threshold = 1 }, f.Ops.Keys[0])
	wantReason(t, AcceptTrustList(f.Held, lowered, "", f.Now), ReasonThreshold)
}

func TestAcceptTrustListRefusesExpiredList(t *testing.T) {
	f := newTLFixture(t)
	v2 := f.next(t, 2, nil, f.Ops.Keys[0], f.Ops.Keys[1])
	if err := AcceptTrustList(f.Held, v2, "", v2.ExpiresAt()); err != nil {
		t.Fatalf("at expiry: %v", err)
	}
	wantReason(t, AcceptTrustList(f.Held, v2, "", v2.ExpiresAt().Add(time.Second)), ReasonExpired)
	// A frozen first list cannot be installed either, pin or not.
	wantReason(t, AcceptTrustList(nil, f.Held, f.Held.SHA256(), f.Held.ExpiresAt().Add(time.Second)), ReasonExpired)
}

// Replacing a province's root key lets whoever holds the new key speak
// for the province: it needs the operators' threshold like any change.
func TestAcceptTrustListRefusesRootKeyChangeWithoutThreshold(t *testing.T) {
	f := newTLFixture(t)
	evilRoot := mustKey(t)
	swap := func(tl *TrustList) {
		for i := range tl.Members {
			if tl.Members[i].ID == gd {
				tl.Members[i].Root = jwkJSON(t, &evilRoot.PublicKey)
			}
		}
	}
	wantReason(t, AcceptTrustList(f.Held, f.next(t, 2, swap, f.Ops.Keys[1]), "", f.Now), ReasonThreshold)
	wantReason(t, AcceptTrustList(f.Held, f.next(t, 2, swap, f.Ops.Keys[1], evilRoot), "", f.Now), ReasonThreshold)
	ok := f.next(t, 2, swap, f.Ops.Keys[1], f.Ops.Keys[2])
	if err := AcceptTrustList(f.Held, ok, "", f.Now); err != nil {
		t.Fatal(err)
	}
	if !ok.Members[gd].Root.Equal(&evilRoot.PublicKey) {
		t.Fatal("root key not replaced")
	}
}

func TestAcceptTrustListRefusesListOfAnotherFederation(t *testing.T) {
	f := newTLFixture(t)
	other := f.next(t, 2, func(tl *TrustList) { tl.Federation = "hcfed-other" }, f.Ops.Keys[0], f.Ops.Keys[1])
	wantReason(t, AcceptTrustList(f.Held, other, "", f.Now), ReasonWrongSigner)
}

func TestParseTrustListRefusesMalformedPayloads(t *testing.T) {
	f := newTLFixture(t)
	p384 := json.RawMessage(`{"kty":"EC","crv":"P-384","x":"` + b64(make([]byte, 48)) + `","y":"` + b64(make([]byte, 48)) + `"}`)
	for name, c := range map[string]struct {
		edit func(*TrustList)
		want Reason
	}{
		"no federation":         {func(tl *TrustList) { tl.Federation = "" }, ReasonMalformed},
		"version zero":          {func(tl *TrustList) { tl.Version = 0 }, ReasonMalformed},
		"expires at issue":      {func(tl *TrustList) { tl.Expires = tl.IssuedAt }, ReasonMalformed},
		"threshold zero":        {func(tl *TrustList) { tl.Threshold = 0 }, ReasonMalformed},
		"threshold too high":    {func(tl *TrustList) { tl.Threshold = 4 }, ReasonMalformed},
		"operator id empty":     {func(tl *TrustList) { tl.Operators[0].ID = "" }, ReasonMalformed},
		"operator id twice":     {func(tl *TrustList) { tl.Operators[1].ID = tl.Operators[0].ID }, ReasonMalformed},
		"operator key twice":    {func(tl *TrustList) { tl.Operators[1].JWK = tl.Operators[0].JWK }, ReasonMalformed},
		"member id short":       {func(tl *TrustList) { tl.Members[0].ID = "44000" }, ReasonMalformed},
		"member twice":          {func(tl *TrustList) { tl.Members[1].ID = tl.Members[0].ID }, ReasonMalformed},
		"member status":         {func(tl *TrustList) { tl.Members[0].Status = "paused" }, ReasonMalformed},
		"member root off curve": {func(tl *TrustList) { tl.Members[0].Root = p384 }, ReasonMalformed},
		"member root junk":      {func(tl *TrustList) { tl.Members[0].Root = json.RawMessage(`{}`) }, ReasonMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			tl := f.trustList(t, f.Ops, 2, 2)
			c.edit(&tl)
			_, err := ParseTrustList(signTrustList(t, tl, f.Ops.Keys[0], f.Ops.Keys[1]))
			wantReason(t, err, c.want)
		})
	}
	payload, _ := json.Marshal(f.trustList(t, f.Ops, 2, 2))
	extra := []byte(strings.Replace(string(payload), `{"fed"`, `{"admin":"me","fed"`, 1))
	doc, err := SignTrustList(nil, extra, f.Ops.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, errOf(ParseTrustList(doc)), ReasonMalformed)
}

// tlSig signs payload by hand under any protected header, for documents
// go-jose would not write.
func tlSig(t *testing.T, key *ecdsa.PrivateKey, header string, payload []byte) (protected, sig string) {
	t.Helper()
	h, _, s := splitJWS(t, forgeJWS(t, key, header, string(payload)))
	return h, s
}

func tlHeader(t *testing.T, key *ecdsa.PrivateKey, typ string) string {
	return tlHeaderFor(t, key, typ)
}

func TestParseTrustListRefusesBadDocuments(t *testing.T) {
	f := newTLFixture(t)
	payload, _ := json.Marshal(f.trustList(t, f.Ops, 2, 2))
	p64 := b64(payload)
	k0 := f.Ops.Keys[0]
	sig := func(header string) string {
		h, s := tlSig(t, k0, header, payload)
		return `{"protected":"` + h + `","signature":"` + s + `"}`
	}
	good := sig(tlHeader(t, k0, TypTrustList))
	kid, _ := Thumbprint(&k0.PublicKey)
	many := strings.TrimSuffix(strings.Repeat(good+",", MaxTrustListSignatures+1), ",")
	for name, c := range map[string]struct {
		doc  string
		want Reason
	}{
		"not json":            {`payload=` + p64, ReasonMalformed},
		"no signatures":       {`{"payload":"` + p64 + `","signatures":[]}`, ReasonMalformed},
		"too many signatures": {`{"payload":"` + p64 + `","signatures":[` + many + `]}`, ReasonMalformed},
		"flattened":           {`{"payload":"` + p64 + `",` + strings.TrimPrefix(good, "{"), ReasonMalformed},
		"compact":             {`"` + forgeJWS(t, k0, tlHeader(t, k0, TypTrustList), string(payload)) + `"`, ReasonMalformed},
		"unknown member":      {`{"payload":"` + p64 + `","signatures":[` + good + `],"note":"x"}`, ReasonMalformed},
		"trailing data":       {`{"payload":"` + p64 + `","signatures":[` + good + `]} {}`, ReasonMalformed},
		"unprotected header":  {`{"payload":"` + p64 + `","signatures":[{"header":{"kid":"` + kid + `"},` + strings.TrimPrefix(good, "{") + `]}`, ReasonBadHeader},
		"embedded jwk": {`{"payload":"` + p64 + `","signatures":[` + sig(`{"alg":"ES256","jwk":`+string(jwkJSON(t, &k0.PublicKey))+`,"kid":"`+kid+`","typ":"`+TypTrustList+`"}`) + `]}`,
			ReasonBadHeader},
		"keyset typ": {`{"payload":"` + p64 + `","signatures":[` + sig(tlHeader(t, k0, TypKeyset)) + `]}`, ReasonWrongType},
		"alg none":   {`{"payload":"` + p64 + `","signatures":[` + sig(`{"alg":"none","kid":"`+kid+`","typ":"`+TypTrustList+`"}`) + `]}`, ReasonBadAlgorithm},
		"one bad apple": {`{"payload":"` + p64 + `","signatures":[` + good + `,` + sig(`{"alg":"ES256","crit":["x"],"kid":"`+kid+`","typ":"`+TypTrustList+`"}`) + `]}`,
			ReasonBadHeader},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseTrustList([]byte(c.doc))
			wantReason(t, err, c.want)
		})
	}
	_, err := ParseTrustList(make([]byte, MaxTrustListLen+1))
	wantReason(t, err, ReasonOversized)
	// The hand-made good document itself parses: the refusals are real.
	if _, err := ParseTrustList([]byte(`{"payload":"` + p64 + `","signatures":[` + good + `]}`)); err != nil {
		t.Fatal(err)
	}
}

// encoding/json matches member names case-insensitively and keeps the last
// duplicate; go-jose's reader is case-sensitive. A document carrying both
// "signatures" and "Signatures" must not have one set's headers checked
// and the other set's signatures counted.
func TestParseTrustListCountsOnlySignaturesWhoseHeadersWereChecked(t *testing.T) {
	f := newTLFixture(t)
	payload, _ := json.Marshal(f.trustList(t, f.Ops, 2, 2))
	p64 := b64(payload)
	entry := func(key *ecdsa.PrivateKey, typ string) string {
		h, s := tlSig(t, key, tlHeader(t, key, typ), payload)
		return `{"protected":"` + h + `","signature":"` + s + `"}`
	}
	unchecked := entry(f.Ops.Keys[0], TypKeyset) // a header the rules refuse
	checked := entry(f.Ops.Keys[1], TypTrustList)

	// The checked set is read, and the document refused: it is not in the
	// one encoding SignTrustList writes.
	doc := `{"payload":"` + p64 + `","signatures":[` + unchecked + `],"Signatures":[` + checked + `]}`
	p, err := ParseTrustList([]byte(doc))
	wantReason(t, err, ReasonMalformed)
	// The other way round, the refused header is the one read, and refused.
	doc = `{"payload":"` + p64 + `","signatures":[` + checked + `],"Signatures":[` + unchecked + `]}`
	wantReason(t, errOf(ParseTrustList([]byte(doc))), ReasonWrongType)
	// Same with a case-variant field inside a signature.
	h0, s0 := tlSig(t, f.Ops.Keys[0], tlHeader(t, f.Ops.Keys[0], TypKeyset), payload)
	h1, _ := tlSig(t, f.Ops.Keys[1], tlHeader(t, f.Ops.Keys[1], TypTrustList), payload)
	doc = `{"payload":"` + p64 + `","signatures":[{"protected":"` + h0 + `","Protected":"` + h1 + `","signature":"` + s0 + `"}]}`
	p, err = ParseTrustList([]byte(doc))
	if err == nil && len(p.SignedBy) != 0 {
		t.Fatalf("SignedBy = %v from a signature over an unchecked header", p.SignedBy)
	}
}
