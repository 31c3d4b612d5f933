package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzReadEnrolment: an enrolment file for 'hcnode enrol --file' is
// refused without echoing any value in it (a name, an ID number, a
// phone number), and nothing over maxEnrolFile is accepted; what is
// accepted is one enrolment that reads back the same once written out.
func FuzzReadEnrolment(f *testing.F) {
	for _, s := range []string{
		`{"name":"张三","id_number":"11010519491231002X","consent":{"notice_version":"2026-12","accepted":true}}`,
		`{"name":"张三","id_number":11010519491231002}`, `{"name":"张三","Name":"李四"}`, `{"name":"张三"} {"name":"李四"}`,
		`{"name":"张三","consent":{"accepted":"张三"}}`, `{"nick":"张三"}`, `["张三"]`, `"张三"`, `{"name":"张三"`,
		`{"name":"\ud800"}`, `{"phone":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Add(append([]byte(`{"name":"`), bytes.Repeat([]byte("a"), maxEnrolFile)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := readEnrolment(bytes.NewReader(b), "-")
		if err != nil {
			for _, v := range jsonValues(b) {
				if len(v) >= 4 && strings.Contains(err.Error(), v) {
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
