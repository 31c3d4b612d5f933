package trust

import (
	"encoding/json"
	"strings"
	"testing"
)

// A key given twice, or spelled in another case than its field, lets one
// signed payload mean two things: encoding/json matches keys
// case-insensitively and keeps the last duplicate, while jq shows both
// and other verifiers keep the first. These tests sign such payloads
// correctly and expect them refused as malformed, so that what operators
// review is what nodes apply. Inside a JWK, go-jose's own reader already
// refused duplicates and reads members case-sensitively.

// keyEdit is one way to give a payload a duplicate or case-variant key:
// the first occurrence of from becomes to.
type keyEdit struct{ from, to string }

// edited applies e to payload, failing t if from is not in it (the test
// would then prove nothing).
func edited(t *testing.T, payload []byte, e keyEdit) []byte {
	t.Helper()
	if !strings.Contains(string(payload), e.from) {
		t.Fatalf("%s not in payload %s", e.from, payload)
	}
	return []byte(strings.Replace(string(payload), e.from, e.to, 1))
}

func TestParseTrustListRefusesDuplicateAndCaseVariantKeys(t *testing.T) {
	f := newTLFixture(t)
	payload, err := json.Marshal(f.trustList(t, f.Ops, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	parse := func(payload []byte) error {
		doc, err := SignTrustList(nil, payload, f.Ops.Keys[0])
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseTrustList(doc)
		return err
	}
	if err := parse(payload); err != nil {
		t.Fatalf("the unedited payload is refused: %v", err)
	}
	for name, e := range map[string]keyEdit{
		"duplicate fed":            {`{"fed":`, `{"fed":"hcfed-other","fed":`},
		"duplicate threshold":      {`"threshold":2`, `"threshold":3,"threshold":2`},
		"duplicate member status":  {`"status":"removed"`, `"status":"removed","status":"active"`},
		"duplicate key in a root":  {`"x":`, `"x":"AAAA","x":`}, // go-jose's reader refused it already
		"case-variant version":     {`"version":`, `"Version":`},
		"case-variant member root": {`"root":`, `"ROOT":`},
	} {
		t.Run(name, func(t *testing.T) {
			wantReason(t, parse(edited(t, payload, e)), ReasonMalformed)
		})
	}
}

func TestParseKeysetRefusesDuplicateAndCaseVariantKeys(t *testing.T) {
	f := newTestFederation(t, testNow)
	payload, err := json.Marshal(f.GD.keyset(t, 3, f.Now))
	if err != nil {
		t.Fatal(err)
	}
	rootKID, err := Thumbprint(&f.GD.Root.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(payload []byte) error {
		raw, err := signCompact(f.GD.Root, rootKID, TypKeyset, payload)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseKeyset(raw, gd, &f.GD.Root.PublicKey)
		return err
	}
	if err := parse(payload); err != nil {
		t.Fatalf("the unedited payload is refused: %v", err)
	}
	for name, e := range map[string]keyEdit{
		"duplicate iss":          {`{"iss":`, `{"iss":"310000","iss":`},
		"duplicate key state":    {`"state":"compromised"`, `"state":"compromised","state":"active"`},
		"duplicate key in a jwk": {`"y":`, `"y":"AAAA","y":`}, // go-jose's reader refused it already
		"case-variant version":   {`"version":`, `"VERSION":`},
		"case-variant enc":       {`"enc":`, `"Enc":`},
		"case-variant state":     {`"state":`, `"State":`},
	} {
		t.Run(name, func(t *testing.T) {
			wantReason(t, parse(edited(t, payload, e)), ReasonMalformed)
		})
	}
}

// A code's claims were already refused with either key (Verify requires
// the canonical encoding, which has every key once, spelled as its
// field); this pins it, since Verify skips decodeStrict's walk for codes.
func TestVerifyRefusesCodeWithDuplicateOrCaseVariantClaim(t *testing.T) {
	f := newTestFederation(t, testNow)
	code := mustGood(t, f)
	h64, p64, _ := splitJWS(t, code)
	header, err := b64Decode(h64)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := b64Decode(p64)
	if err != nil {
		t.Fatal(err)
	}
	verifyWant(t, f, CodePrefix+forgeJWS(t, f.GD.Active.key, string(header), string(payload)), ReasonOK)
	for name, e := range map[string]keyEdit{
		"duplicate iss":    {`{"iss":`, `{"iss":"310000","iss":`},
		"duplicate exp":    {`"exp":`, `"exp":1,"exp":`},
		"case-variant jti": {`"jti":`, `"JTI":`},
		"case-variant ct":  {`"ct":`, `"Ct":`},
	} {
		t.Run(name, func(t *testing.T) {
			forged := forgeJWS(t, f.GD.Active.key, string(header), string(edited(t, payload, e)))
			verifyWant(t, f, CodePrefix+forged, ReasonMalformed)
		})
	}
}

// keyCase is one edit of a document and the words its refusal must carry.
type keyCase struct {
	e    keyEdit
	want string
}

// Content keys a replica's home sealed to it were read by json.Unmarshal:
// a key given twice was collapsed to the last, a mis-cased or unknown one
// taken or ignored. They are now read as every statement is.
func TestOpenContentKeysRefusesDuplicateCaseVariantAndUnknownKeys(t *testing.T) {
	fed := newTestFederation(t, testNow)
	replica := mustKey(t)
	plain := mustJSON(t, []replicaKey{{ID: fed.GD.CK.ID, NotBefore: 1, Expires: 2, Key: b64(fed.GD.CK.Key)}})
	open := func(plain []byte) error {
		raw, err := sealTo(plain, replicaKeysCty, &replica.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		_, err = OpenContentKeys(raw, replica)
		return err
	}
	if err := open(plain); err != nil {
		t.Fatalf("the unedited set is refused: %v", err)
	}
	otherKey := b64(make([]byte, ContentKeyLen))
	for name, c := range map[string]keyCase{
		"duplicate key":     {keyEdit{`"key":`, `"key":"` + otherKey + `","key":`}, `duplicate key "key"`},
		"duplicate ckid":    {keyEdit{`"ckid":`, `"ckid":"310000/x","ckid":`}, `duplicate key "ckid"`},
		"case-variant ckid": {keyEdit{`"ckid":`, `"CKID":`}, `unknown field "CKID"`},
		"unknown field":     {keyEdit{`"nbf":`, `"note":"x","nbf":`}, `unknown field "note"`},
	} {
		t.Run(name, func(t *testing.T) {
			err := open(edited(t, plain, c.e))
			wantReason(t, err, ReasonMalformed)
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("refused with %q, want it to say %s", err, c.want)
			}
		})
	}
}

// The document an operator adds a signature to (hcnode trust sign) was
// read by json.Unmarshal: given the payload twice, SignTrustList signed
// the last one, which a reader keeping the first never showed.
func TestSignTrustListRefusesDocWithDuplicateCaseVariantOrUnknownKey(t *testing.T) {
	f, doc := onceSignedTrustList(t)
	if _, err := SignTrustList(doc, nil, f.Ops.Keys[1]); err != nil {
		t.Fatalf("the unedited document is refused: %v", err)
	}
	other := b64([]byte(`{"fed":"hcfed-other"}`))
	for name, c := range map[string]keyCase{
		"duplicate payload":       {keyEdit{`{"payload":`, `{"payload":"` + other + `","payload":`}, `duplicate key "payload"`},
		"duplicate protected":     {keyEdit{`"protected":`, `"protected":"e30","protected":`}, `duplicate key "protected"`},
		"case-variant signatures": {keyEdit{`"signatures":`, `"Signatures":`}, `unknown field "Signatures"`},
		"unknown field":           {keyEdit{`"signatures":`, `"note":"x","signatures":`}, `unknown field "note"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := SignTrustList(edited(t, doc, c.e), nil, f.Ops.Keys[1])
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("signed, or refused with %v; want it refused saying %s", err, c.want)
			}
		})
	}
}

// A signed trust list document with a key given twice or mis-cased was
// refused only as "not in canonical form"; the refusal now names the key.
func TestParseTrustListNamesTheDuplicateOrCaseVariantDocumentKey(t *testing.T) {
	_, doc := onceSignedTrustList(t)
	if _, err := ParseTrustList(doc); err != nil {
		t.Fatalf("the unedited document is refused: %v", err)
	}
	for name, c := range map[string]keyCase{
		"duplicate payload":       {keyEdit{`{"payload":`, `{"payload":"e30","payload":`}, `duplicate key "payload"`},
		"duplicate signature":     {keyEdit{`"signature":`, `"signature":"","signature":`}, `duplicate key "signature"`},
		"case-variant signatures": {keyEdit{`"signatures":`, `"SIGNATURES":`}, `unknown field "SIGNATURES"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseTrustList(edited(t, doc, c.e))
			wantReason(t, err, ReasonMalformed)
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("refused with %q, want it to say %s", err, c.want)
			}
		})
	}
}

// onceSignedTrustList is a fixture and a document of its trust list v2
// signed by its first operator: one signature short of its threshold.
func onceSignedTrustList(t *testing.T) (*tlFixture, []byte) {
	t.Helper()
	f := newTLFixture(t)
	payload, err := json.Marshal(f.trustList(t, f.Ops, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := SignTrustList(nil, payload, f.Ops.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	return f, doc
}
