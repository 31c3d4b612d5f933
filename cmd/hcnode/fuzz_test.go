package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/trust"
)

// FuzzReadEnrolment: an enrolment file for 'hcnode enrol --file' is
// refused without echoing any value in it (a name, an ID number, a
// phone number), and nothing over maxEnrolFile is accepted; what is
// accepted is one enrolment that reads back the same once written out.
func FuzzReadEnrolment(f *testing.F) {
	for _, s := range []string{
		`{"name":"张三","id_number":"11010519491231002X","consent":{"notice_version":"` + config.NoticeVersion + `","accepted":true}}`,
		`{"name":"张三","id_number":11010519491231002}`, `{"name":"张三","Name":"李四"}`, `{"name":"张三"} {"name":"李四"}`,
		`{"name":"张三","consent":{"accepted":"张三"}}`, `{"nick":"张三"}`, `["张三"]`, `"张三"`, `{"name":"张三"`,
		`{"name":"\ud800"}`, `{"phone":1e400}`, `{"name":"zhangsan","zhangsan":1}`, `{"name":"pted","x":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Add(append([]byte(`{"name":"`), bytes.Repeat([]byte("a"), maxEnrolFile)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := readEnrolment(bytes.NewReader(b), "-")
		if err != nil {
			for _, v := range jsonValues(b) {
				if len(v) >= 4 && echoes(b, v, err) {
					t.Fatalf("refusal of %q echoes the value %q: %v", b, v, err)
				}
			}
			return
		}
		if len(b) > maxEnrolFile {
			t.Fatalf("accepted a file of %d bytes", len(b))
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := readEnrolment(bytes.NewReader(out), "-")
		if err != nil || back != e {
			t.Fatalf("%q reads as %+v; written out, as %+v (%v)", b, e, back, err)
		}
	})
}

// echoes reports whether the refusal err of file b quotes the value v.
// Where v is written as it is in b, it does if the refusal holds v and
// stops holding it once v's letters and digits are shifted in b (a
// quoted value follows; a word of the sentence that happens to be v —
// "pted" in "accepted" — stays): the sentence's own words are not
// values. Elsewhere (escapes, invalid UTF-8) it does if it holds v.
func echoes(b []byte, v string, err error) bool {
	if !strings.Contains(err.Error(), v) {
		return false
	}
	shifted := strings.Map(func(r rune) rune {
		switch {
		case '0' <= r && r < '9', unicode.IsLetter(r) && unicode.IsLetter(r+1):
			return r + 1
		case r == '9':
			return '0'
		case unicode.IsLetter(r) && unicode.IsLetter(r-1):
			return r - 1
		}
		return r
	}, v)
	if shifted == v || !bytes.Contains(b, []byte(v)) {
		return true
	}
	_, err2 := readEnrolment(bytes.NewReader(bytes.ReplaceAll(b, []byte(v), []byte(shifted))), "-")
	return err2 == nil || !strings.Contains(err2.Error(), v)
}

// jsonValues returns the string values and number literals in b, as far
// as b is JSON — object keys excluded.
func jsonValues(b []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []string
	var inObject []bool // per open container: is it an object
	keyNext := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				inObject = append(inObject, true)
				keyNext = true
				continue
			case '[':
				inObject = append(inObject, false)
				keyNext = false
				continue
			default:
				inObject = inObject[:len(inObject)-1]
			}
		case string:
			if keyNext {
				keyNext = false
				continue
			}
			out = append(out, v)
		case json.Number:
			out = append(out, v.String())
		}
		keyNext = len(inObject) > 0 && inObject[len(inObject)-1]
	}
}

// FuzzParsePin: a --pin is taken exactly when it is 64 hex digits, in
// either case, and comes back in lower case; anything else is a usage
// error that says what a pin is.
func FuzzParsePin(f *testing.F) {
	sum := strings.Repeat("aB", 32)
	for _, s := range []string{"", sum, sum[:63], sum + "0", "sha256:" + sum, " " + sum[1:], strings.Repeat("é", 32)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parsePin("--pin", s)
		hex := len(s) == 64 && strings.Trim(s, "0123456789abcdefABCDEF") == ""
		switch {
		case s == "":
			if got != "" || err != nil {
				t.Fatalf("no pin: %q, %v", got, err)
			}
		case hex:
			if err != nil || got != strings.ToLower(s) {
				t.Fatalf("pin %q: %q, %v", s, got, err)
			}
		default:
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), "want 64 hex digits") {
				t.Fatalf("pin %q: %q, %v; want a usage error", s, got, err)
			}
		}
	})
}

// FuzzReadTrustFile: a trust list file is read as what it is — a signed
// document whenever trust.ParseTrustList takes it, a proposal whenever
// trust.DecodeTrustList does, whatever strings the list holds — and a
// file that is neither is refused naming the file.
func FuzzReadTrustFile(f *testing.F) {
	for _, s := range []string{
		`{"fed":"hcfed-demo","version":2,"iat":1,"exp":2,"threshold":1,"operators":[],"members":[]}`,
		`{"fed":"signatures"}`, `{"payload":"e30","signatures":[]}`, `{"payload":"e30","signatures":[{"protected":"e30","signature":""}]}`,
		`{"fed":"x","signatures":[]}`, `{}`, `[]`, `{"fed":"x"} {}`,
	} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "list.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readTrustFile(path)
		signed, signedErr := trust.ParseTrustList(b)
		proposal, proposalErr := trust.DecodeTrustList(b)
		switch {
		case signedErr == nil:
			if err != nil || got.signed == nil || got.signed.SHA256() != signed.SHA256() {
				t.Fatalf("signed list %q read as %+v (%v)", b, got, err)
			}
		case proposalErr == nil:
			if err != nil || got.signed != nil || !reflect.DeepEqual(got.list, proposal) {
				t.Fatalf("proposal %q read as %+v (%v)", b, got, err)
			}
		default:
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("%q, neither list nor proposal, read as %+v (%v)", b, got, err)
			}
		}
	})
}
