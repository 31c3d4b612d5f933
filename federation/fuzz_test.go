package federation

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/trust"
)

// Fuzz targets for what the federation package reads off NATS before any
// signature is checked: subjects, state keys, cache keys, snapshot
// pointers and the unverified seq of a revocation delta. Seeds: f.Add
// below and testdata/fuzz/<FuzzName>/. Run one with
//
//	go test ./federation -run='^$' -fuzz='^FuzzParseSubject$' -fuzztime=45s

// FuzzParseSubject: a subject a message arrived on is refused as
// ErrInvalidName, or names a valid topic that Subject renders as exactly
// that subject — so no subject with a wildcard, an extra token or another
// federation's prefix is ever read as a topic.
func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{
		"hcfed.demo.trustlist", "hcfed.demo.440000.keyset", "hcfed.demo.440000.contentkey.310000",
		"hcfed.demo.440000.revocations", "hcfed.demo.440000.lookup.310000", "hcfed.demo.440000.receipts.440000",
		"hcfed.demo.*.keyset", "hcfed.demo.440000.keyset.", "hcfed.other.440000.keyset", "hcfed.demo.44000>.keyset",
	} {
		f.Add("demo", s)
	}
	f.Fuzz(func(t *testing.T, fed, subject string) {
		top, err := ParseSubject(fed, subject)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) || top != (Topic{}) {
				t.Fatalf("ParseSubject(%q, %q) refused with %v, topic %+v", fed, subject, err, top)
			}
			return
		}
		if top.Validate() != nil {
			t.Fatalf("ParseSubject(%q, %q) = invalid %+v", fed, subject, top)
		}
		again, err := top.Subject(fed)
		if err != nil || again != subject {
			t.Fatalf("ParseSubject(%q, %q) = %+v, which renders as %q (%v)", fed, subject, top, again, err)
		}
		if strings.ContainsAny(subject, "*> \t\r\n") {
			t.Fatalf("accepted subject %q", subject)
		}
	})
}

// FuzzParseKey: a state bucket key is refused as ErrInvalidName, or names a
// topic that has a key and whose Key is exactly the input.
func FuzzParseKey(f *testing.F) {
	for _, k := range []string{"trustlist", "440000.keyset", "440000.contentkey.310000", "440000.revsnapshot",
		"440000.heartbeat", "440000.revocations", "440000.snapreq.310000", "440000.keyset.x", ".keyset"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		top, err := ParseKey(key)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("ParseKey(%q) refused with %v", key, err)
			}
			return
		}
		again, err := top.Key()
		if err != nil || again != key {
			t.Fatalf("ParseKey(%q) = %+v, whose key is %q (%v)", key, top, again, err)
		}
	})
}

// FuzzReadCacheKey: a key of the SQLite statement cache is either refused
// or read back to a topic and seq that name exactly that key, as Sync
// writes it: a delta's key is its province, "revocations" and its seq in
// decimal; any other is the topic's state key.
func FuzzReadCacheKey(f *testing.F) {
	for _, k := range []string{"440000.revocations.17", "440000.revocations.017", "440000.revocations.+1",
		"440000.revocations.18446744073709551616", "440000.keyset", "trustlist", "x.revocations.1"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		top, seq, ok := readCacheKey(key)
		if !ok {
			return
		}
		if top.Validate() != nil {
			t.Fatalf("readCacheKey(%q) = invalid %+v", key, top)
		}
		if top.Kind == KindRevocations {
			if p, n, _ := strings.Cut(key, "."+string(KindRevocations)+"."); p != top.Province || n == "" {
				t.Fatalf("readCacheKey(%q) = %+v, %d", key, top, seq)
			}
			return
		}
		if again, err := top.Key(); err != nil || again != key || seq != 0 {
			t.Fatalf("readCacheKey(%q) = %+v, %d, whose key is %q (%v)", key, top, seq, again, err)
		}
	})
}

// FuzzParsePointer: a revsnapshot pointer value read from the state bucket
// is refused (ErrTooLarge above maxPointerLen), or is a JSON object with
// no key given twice, mis-cased or unknown (trust.CheckJSONKeys) that
// encoding/json reads the same way.
func FuzzParsePointer(f *testing.F) {
	f.Add([]byte(`{"seq":12,"size":4096,"digest":"SHA-256=abc"}`))
	f.Add([]byte(`{"seq":12,"size":4096,"digest":"SHA-256=abc","seq":99}`))
	f.Add([]byte(`{"Seq":12,"size":4096,"digest":"SHA-256=abc"}`))
	f.Add([]byte(`{"seq":-1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(strings.Repeat(" ", maxPointerLen) + "{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePointer(b)
		if len(b) > maxPointerLen {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("pointer of %d bytes: %v", len(b), err)
			}
			return
		}
		if err != nil {
			return
		}
		var want snapshotPointer
		if err := trust.CheckJSONKeys(b, &want); err != nil {
			t.Fatalf("%q read as %+v, but its keys are refused: %v", b, p, err)
		}
		if json.Unmarshal(b, &want) != nil || want != p {
			t.Fatalf("%q read as %+v, encoding/json reads %+v", b, p, want)
		}
	})
}

// FuzzPeekSeq: the fast reading of a revocation delta's unverified seq
// agrees with the JSON decoder's (peekClaims) whenever the decoder reads
// the payload, and is refused exactly when the decoder refuses, except
// for a canonical prefix the decoder finds truncated — which only ever
// lets a delta be skipped, and a forgery skipped is no loss.
func FuzzPeekSeq(f *testing.F) {
	for _, p := range []string{
		`{"iss":"440000","seq":17,"iat":1,"entries":[{"jti":"AAAAAAAAAAAAAAAAAAAAAA","exp":2}]}`,
		`{"iss":"440000","seq":17,"SEQ":99}`, `{"iss":"440000","seq":17,"s\u0065q":99}`,
		`{"iss":"440000","seq":18446744073709551616}`, `{"iss":"440000","seq":17,`, `not json`,
	} {
		f.Add(compactWith(p))
	}
	f.Add([]byte("no dots"))
	f.Add([]byte("a.!!.c"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, gotErr := peekSeq(raw)
		want, wantErr := peekClaims(raw)
		if gotErr != nil && !errors.Is(gotErr, errNotCompact) {
			t.Fatalf("peekSeq refused with %v", gotErr)
		}
		switch {
		case wantErr == nil && (gotErr != nil || got != want.Seq):
			t.Fatalf("%q: peekSeq = %d, %v; the decoder reads %d", raw, got, gotErr, want.Seq)
		case wantErr != nil && gotErr == nil:
			// Only the canonical fast path may read what the decoder
			// refuses; it must still be a payload in the canonical form.
			first := strings.IndexByte(string(raw), '.')
			second := strings.IndexByte(string(raw[first+1:]), '.')
			payload, err := base64.RawURLEncoding.DecodeString(string(raw[first+1 : first+1+second]))
			if err != nil {
				t.Fatalf("%q: peekSeq read %d from a payload that does not decode", raw, got)
			}
			if seq, ok := canonicalSeq(payload); !ok || seq != got {
				t.Fatalf("%q: peekSeq read %d where the decoder refuses: %v", raw, got, wantErr)
			}
		}
	})
}
