package api

import "testing"

// FuzzPlainCode checks that the one-pass reading of a verify body agrees
// with the strict decoder wherever it answers: same code, and never a body
// the decoder refuses.
func FuzzPlainCode(f *testing.F) {
	for _, s := range []string{
		`{"code":"HCF1:eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}`, `{"code":""}`, " {\"code\":\"x\"}\n",
		`{"code":"a"}"}`, `{"code":"a","x":"b"}`, `{"code":"\u0041"}`, `{"code":"a\"b"}`, `{"code":"é"}`,
		`{"code":"x"}}`, `{"Code":"x"}`, `{"code":1}`, `{"code":"x"`, "{\"code\":\"\x7f\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, ok := plainCode(body)
		if !ok {
			return
		}
		var in struct {
			Code string `json:"code"`
		}
		if err := decode(body, &in); err != nil {
			t.Fatalf("%q: plainCode read %q, decode refused: %v", body, code, err)
		}
		if in.Code != code {
			t.Fatalf("%q: plainCode read %q, decode %q", body, code, in.Code)
		}
	})
}
