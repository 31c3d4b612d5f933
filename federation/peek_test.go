package federation

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

// compactWith wraps payload as the middle part of a compact JWS.
func compactWith(payload string) []byte {
	return []byte("eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln")
}

// TestPeekSeqAgreesWithTheDecoder holds the fast path to what
// encoding/json reads, on canonical payloads and on ones built to make
// a naive scanner read another seq.
func TestPeekSeqAgreesWithTheDecoder(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{
		`{"iss":"440000","seq":17,"iat":1,"entries":[{"jti":"AAAAAAAAAAAAAAAAAAAAAA","exp":2}]}`,
		`{"iss":"440000","seq":0,"iat":1,"entries":[]}`,
		`{"iss":"440000","seq":18446744073709551615}`,
		`{"iss":"440000","seq":18446744073709551616}`, // overflows: the decoder refuses it
		`{"iss":"440000","seq":17,"seq":99}`,
		`{"iss":"440000","seq":17,"SEQ":99}`,
		`{"iss":"440000","seq":17,"Seq":99}`,
		`{"iss":"440000","seq":17,"s\u0065q":99}`,
		`{"iss":"440000","seq":17,"ſeq":99}`, // U+017F folds to s
		`{"iss":"440000","seq":017}`,
		`{"iss":"440000","seq":17.5}`,
		`{"iss":"440000","seq":-1}`,
		`{"iss":"44000x","seq":17}`,
		`{"iss":"440000", "seq":17}`,
		`{"seq":17,"iss":"440000"}`,
		`{"iss":"440000","seq":17,"entries":[{"jti":"xxSeQxxxxxxxxxxxxxxxxx","exp":2}]}`,
		`{"iss":"440000","seq":17,"entries":[{"jti":"seq","exp":2}]}`,
		`{"iss":"440000","seq":17,"x":{"sEq":99}}`,
		`{"iss":"440000","seq":17`,
		`{"iss":"440000","seq":17,`, // fast path reads 17; the decoder refuses
		`not json`,
	} {
		raw := compactWith(payload)
		got, gotErr := peekSeq(raw)
		want, wantErr := peekClaims(raw)
		if (gotErr != nil) != (wantErr != nil) || (gotErr == nil && got != want.Seq) {
			// The fast path may accept a truncated canonical payload the
			// decoder refuses: it is then only ever used to skip.
			var v any
			if json.Unmarshal([]byte(payload), &v) != nil && gotErr == nil && wantErr != nil {
				continue
			}
			t.Errorf("%s: peekSeq = %d, %v; peekClaims = %d, %v", payload, got, gotErr, want.Seq, wantErr)
		}
	}
	// The letters of seq inside a jti do not send a payload to the decoder.
	if seq, ok := canonicalSeq([]byte(`{"iss":"440000","seq":17,"entries":[{"jti":"xxSeQxxxxxxxxxxxxxxxxx","exp":2}]}`)); !ok || seq != 17 {
		t.Errorf("canonicalSeq with seq inside a jti = %d, %v; want 17, true", seq, ok)
	}
	if _, err := peekSeq([]byte("no dots")); err == nil {
		t.Error("peekSeq of no JWS")
	}
}

func BenchmarkPeekSeq(b *testing.B) {
	f := newFixture(b)
	raw := f.revocation(gd, 12345)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if seq, err := peekSeq(raw); err != nil || seq != 12345 {
				b.Fatal(seq, err)
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		for b.Loop() {
			if c, err := peekClaims(raw); err != nil || c.Seq != 12345 {
				b.Fatal(c, err)
			}
		}
	})
}
