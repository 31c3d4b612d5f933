package trust

import (
	"encoding/json"
	"reflect"
	"testing"
)

// revocationPayloads are payloads the hand-written reader must take
// (canonical) or leave to decodeStrict.
var revocationPayloads = []struct {
	payload   string
	canonical bool
}{
	{`{"iss":"440000","seq":7,"iat":1764500000,"entries":[{"jti":"AAAAAAAAAAAAAAAAAAAAAA","exp":1764503600},{"jti":"_-_-_-_-_-_-_-_-_-_-_w","exp":1}]}`, true},
	{`{"iss":"440000","seq":0,"iat":0,"entries":[]}`, true},
	{`{"iss":"广东","seq":1,"iat":2,"entries":[{"jti":"x","exp":3}]}`, true},
	{`{"iss":"440000","seq":7,"iat":1,"entries":[{"jti":"a","exp":2}],"x":1}`, false},     // unknown field
	{`{"iss":"440000", "seq":7,"iat":1,"entries":[]}`, false},                             // space
	{`{"seq":7,"iss":"440000","iat":1,"entries":[]}`, false},                              // order
	{`{"iss":"440000","seq":7,"iat":1,"entries":null}`, false},                            // null
	{`{"iss":"4\u0034","seq":7,"iat":1,"entries":[]}`, false},                             // escape
	{`{"iss":"440000","seq":-7,"iat":1,"entries":[]}`, false},                             // negative seq
	{`{"iss":"440000","seq":7,"iat":-1,"entries":[{"jti":"a","exp":-2}]}`, false},         // negative ints
	{`{"iss":"440000","seq":07,"iat":1,"entries":[]}`, false},                             // leading zero
	{`{"iss":"440000","seq":7.0,"iat":1,"entries":[]}`, false},                            // float
	{`{"iss":"440000","seq":7e1,"iat":1,"entries":[]}`, false},                            // exponent
	{`{"iss":"440000","seq":18446744073709551615,"iat":1,"entries":[]}`, false},           // 20 digits
	{`{"iss":"440000","seq":7,"iat":1,"entries":[{"jti":"a","exp":2},]}`, false},          // trailing comma
	{`{"iss":"440000","seq":7,"iat":1,"entries":[{"jti":"a","exp":2}]} `, false},          // trailing space
	{`{"iss":"440000","seq":7,"iat":1,"entries":[{"jti":"a","exp":2}]}{}`, false},         // trailing data
	{`{"iss":"440000","seq":7,"iat":1,"entries":[{"jti":"a","exp":2,"jti":"b"}]}`, false}, // duplicate
	{`{"ISS":"440000","seq":7,"iat":1,"entries":[]}`, false},                              // case variant
	{"{\"iss\":\"4\xff\",\"seq\":7,\"iat\":1,\"entries\":[]}", false},                     // invalid UTF-8
	{`{"iss":"440000","seq":7,"iat":1,"entries":[`, false},                                // cut short
}

// The hand-written reader of revocation payloads gives exactly what
// decodeStrict gives for every payload it takes and leaves every other
// one to it, so a peer accepts and refuses the same statements as before.
func TestRevocationPayloadReaderAgreesWithDecodeStrict(t *testing.T) {
	for _, c := range revocationPayloads {
		var fast Revocation
		took := canonicalRevocation([]byte(c.payload), &fast)
		if took != c.canonical {
			t.Errorf("%s: read by hand = %v, want %v", c.payload, took, c.canonical)
		}
		var strict Revocation
		strictErr := decodeStrict([]byte(c.payload), &strict)
		if took && (strictErr != nil || !reflect.DeepEqual(fast, strict)) {
			t.Errorf("%s: by hand %+v, strict %+v (%v)", c.payload, fast, strict, strictErr)
		}
		var got Revocation
		err := decodeRevocation([]byte(c.payload), &got)
		if (err == nil) != (strictErr == nil) || !reflect.DeepEqual(got, strict) {
			t.Errorf("%s: decodeRevocation %+v (%v), strict %+v (%v)", c.payload, got, err, strict, strictErr)
		}
	}
	// What a signer writes is always canonical.
	r := Revocation{Issuer: "440000", Seq: 1 << 40, IssuedAt: 1764500000,
		Entries: []RevocationEntry{{JTI: "AAAAAAAAAAAAAAAAAAAAAA", Expires: 1764503600}}}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Revocation
	if !canonicalRevocation(raw, &back) || !reflect.DeepEqual(back, r) {
		t.Errorf("json.Marshal's payload %s read by hand as %+v", raw, back)
	}
}

func FuzzRevocationPayloadReader(f *testing.F) {
	for _, c := range revocationPayloads {
		f.Add([]byte(c.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var fast, strict Revocation
		if !canonicalRevocation(payload, &fast) {
			return
		}
		if err := decodeStrict(payload, &strict); err != nil || !reflect.DeepEqual(fast, strict) {
			t.Fatalf("%q: by hand %+v, strict %+v (%v)", payload, fast, strict, err)
		}
	})
}
