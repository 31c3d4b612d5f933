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
