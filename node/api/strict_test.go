package api

import (
	"bytes"
	"encoding/json"
	"github.com/hcfed/hcfed/trust"
	"reflect"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
)

// strictTarget exercises every path of the key rule: tagged, untagged and
// embedded fields, a nested struct, a slice of structs, a map, an
// interface and a type that decodes itself.
type strictTarget struct {
	Name     string `json:"name"`
	N        int    `json:"n,omitempty"`
	Skip     string `json:"-"`
	Untagged string
	Inner    struct {
		A bool `json:"a"`
	} `json:"inner"`
	List []struct {
		B string `json:"b"`
	} `json:"list"`
	M   map[string]int  `json:"m"`
	Any any             `json:"any"`
	Raw json.RawMessage `json:"raw"`
	strictEmbedded
}

type strictEmbedded struct {
	E string `json:"e"`
}

func TestDecodeRefusesCaseVariantAndDuplicateKeysEverywhere(t *testing.T) {
	for _, body := range []string{
		`{"Name":"x"}`,
		`{"NAME":"x"}`,
		`{"name":"x","name":"y"}`,
		`{"name":"x","Name":"y"}`,
		`{"inner":{"A":true}}`,
		`{"inner":{"a":true,"a":false}}`,
		`{"list":[{"b":"1"},{"B":"2"}]}`,
		`{"m":{"k":1,"k":2}}`,
		`{"any":{"k":1,"k":2}}`,
		`{"raw":{"k":1,"k":2}}`,
		`{"untagged":"x"}`,
		`{"E":"x"}`,
		`{"Skip":"x"}`,
		`{"name":"\u004eame"}` + `}`,
		strings.Repeat(`{"any":`, trust.MaxJSONDepth+1) + `1` + strings.Repeat(`}`, trust.MaxJSONDepth+1),
	} {
		var v strictTarget
		err := decode([]byte(body), &v)
		if node.ErrorCodeOf(err) != node.EInvalid {
			t.Errorf("%s: %v, want invalid", body, err)
		}
		if !reflect.DeepEqual(v, strictTarget{}) {
			t.Errorf("%s: refused body changed the target: %+v", body, v)
		}
	}
	var v strictTarget
	ok := `{"name":"x","n":1,"Untagged":"u","inner":{"a":true},"list":[{"b":"1"},{"b":"2"}],` +
		`"m":{"k":1,"K":2},"any":{"Name":1},"raw":{"x":[1,{"y":2}]},"e":"x"}`
	if err := decode([]byte(ok), &v); err != nil {
		t.Fatalf("well-formed body refused: %v", err)
	}
	if v.Name != "x" || !v.Inner.A || len(v.List) != 2 || v.M["K"] != 2 || v.E != "x" || v.Untagged != "u" {
		t.Fatalf("decoded %+v", v)
	}
}

// FuzzStrictDecode checks decode against encoding/json: whatever it
// accepts is valid JSON that encoding/json decodes to the same value, its
// re-encoding is accepted and decodes to the same value again, and
// repeating the body's first key, or giving it in upper case, is refused.
func FuzzStrictDecode(f *testing.F) {
	f.Add([]byte(`{"name":"x","inner":{"a":true},"list":[{"b":"1"}],"m":{"k":1},"any":[1,"2",{"z":null}]}`))
	f.Add([]byte(`{"name":"x","name":"y"}`))
	f.Add([]byte(`{"Name":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var v strictTarget
		if decode(body, &v) != nil {
			return
		}
		if !json.Valid(bytes.TrimSpace(body)) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var std strictTarget
		if err := json.Unmarshal(body, &std); err != nil || !reflect.DeepEqual(rawless(std), rawless(v)) {
			t.Fatalf("encoding/json decodes %q to %+v (%v), decode to %+v", body, std, err, v)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var v2 strictTarget
		if err := decode(again, &v2); err != nil || !reflect.DeepEqual(rawless(v2), rawless(v)) {
			t.Fatalf("re-encoding %s: %v, %+v", again, err, v2)
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(body, &top) != nil || len(top) == 0 {
			return
		}
		open := bytes.IndexByte(body, '{')
		for k, val := range top {
			for _, key := range []string{k, strings.ToUpper(k)} {
				kj, _ := json.Marshal(key)
				dup := append(append(append(append([]byte("{"), kj...), ':'), val...), ',')
				dup = append(dup, body[open+1:]...)
				if key != k && trust.CheckJSONKeys([]byte("{"+string(kj)+":null}"), new(strictTarget)) == nil {
					continue // upper case is a field of its own
				}
				if decode(dup, new(strictTarget)) == nil {
					t.Fatalf("accepted %q", dup)
				}
			}
			break
		}
	})
}

// rawless drops the RawMessage field, which holds the body's own spacing.
func rawless(v strictTarget) strictTarget {
	v.Raw = nil
	return v
}

// A body (or bulk line) that is not an object where one is expected is
// told so, not of an empty field ("field  has the wrong type").
func TestDecodeOfANonObjectBodySaysAnObjectIsExpected(t *testing.T) {
	for body, kind := range map[string]string{`[]`: "array", `"x"`: "string", `1`: "number", `true`: "bool"} {
		var v strictTarget
		err := decode([]byte(body), &v)
		if want := "invalid JSON: a JSON object is expected, not " + kind; node.ErrorCodeOf(err) != node.EInvalid || node.ErrorMessageOf(err) != want {
			t.Errorf("%s: %v, want invalid: %s", body, err, want)
		}
	}
	var v strictTarget
	if err := decode([]byte(`{"inner":{"a":"yes"}}`), &v); node.ErrorMessageOf(err) != "invalid JSON: field inner.a has the wrong type" {
		t.Errorf("nested wrong type: %v", err)
	}
}
