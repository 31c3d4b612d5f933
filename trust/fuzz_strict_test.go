package trust

import (
	"encoding/json"
	"testing"
)

// FuzzSignTrustListDoc: a document an operator adds a signature to
// (hcnode trust sign) is refused, or has no key given twice, mis-cased or
// unknown, and the document signed is the canonical general serialization
// of the payload the input carries, with one more signature than it held.
// Seeds: f.Add below and testdata/fuzz/FuzzSignTrustListDoc/.
func FuzzSignTrustListDoc(f *testing.F) {
	key := mustKey(f)
	doc, err := SignTrustList(nil, []byte(`{"fed":"demo","version":1}`), key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte(`{"payload":"e30","protected":"e30","signature":""}`))
	f.Add([]byte(`{"payload":"e30","payload":"eyJmZWQiOiJ4In0","signatures":[]}`))
	f.Add([]byte(`{"Payload":"e30","signatures":[]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := SignTrustList(in, nil, key)
		if err != nil {
			return
		}
		var d struct {
			trustListDoc
			trustListSig
		}
		if err := CheckJSONKeys(in, &d); err != nil {
			t.Fatalf("%q signed, but its keys are refused: %v", in, err)
		}
		if err := json.Unmarshal(in, &d); err != nil {
			t.Fatalf("%q signed, but does not decode: %v", in, err)
		}
		held := len(d.Signatures)
		if d.Protected != "" || d.Signature != "" {
			held++
		}
		var got trustListDoc
		if err := json.Unmarshal(out, &got); err != nil || !isCanonical(got, out) {
			t.Fatalf("%q signed as %q, not canonical: %v", in, out, err)
		}
		if got.Payload != d.Payload || len(got.Signatures) != held+1 {
			t.Fatalf("%q signed as %q: payload %q with %d signatures, want %q with %d", in, out, got.Payload, len(got.Signatures), d.Payload, held+1)
		}
	})
}
