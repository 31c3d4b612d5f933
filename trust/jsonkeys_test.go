package trust

import (
	"errors"
	"strings"
	"testing"
)

type entry struct {
	State string `json:"state"`
}

type statement struct {
	Issuer  string         `json:"iss"`
	Version uint64         `json:"version"`
	Entries []entry        `json:"entries"`
	Extra   map[string]int `json:"extra,omitempty"`
}

// Each refusal says which key and why, in the words node/api's clients
// see after "invalid JSON: ".
func TestCheckKeysSaysWhichKeyAndWhy(t *testing.T) {
	long := strings.Repeat("k", 50)
	for body, want := range map[string]KeyError{
		`{"iss":"a","iss":"b"}`:                     {KeyDuplicate, "iss"},
		`{"version":1,"version":2}`:                 {KeyDuplicate, "version"},
		`{"iss":"a","ISS":"b"}`:                     {KeyNotAField, "ISS"},
		`{"Version":1}`:                             {KeyNotAField, "Version"},
		`{"\u0069ss":"a","iss":"b"}`:                {KeyDuplicate, "iss"}, // escapes are read as the key they spell
		`{"entries":[{"state":"a"},{"STATE":"b"}]}`: {KeyNotAField, "STATE"},
		`{"entries":[{"state":"a","state":"b"}]}`:   {KeyDuplicate, "state"},
		`{"extra":{"k":1,"k":2}}`:                   {KeyDuplicate, "k"},
		`{"` + long + `":1}`:                        {KeyNotAField, long},
		strings.Repeat(`[`, MaxJSONDepth+1) + strings.Repeat(`]`, MaxJSONDepth+1): {KeyTooDeep, ""},
	} {
		err := CheckJSONKeys([]byte(body), new(statement))
		var ke *KeyError
		if !errors.As(err, &ke) || *ke != want {
			t.Errorf("%s: %v, want %+v", body, err, want)
		}
	}
	for err, want := range map[*KeyError]string{
		{KeyDuplicate, "iss"}:    `duplicate key "iss"`,
		{KeyNotAField, "ISS"}:    `unknown field "ISS"`,
		{KeyNotAField, long}:     `unknown field "` + long[:40] + `…"`,
		{KeyNotAField, "a\xffb"}: `unknown field "a?b"`,
		{Problem: KeyTooDeep}:    `nested too deeply`,
	} {
		if got := err.Error(); got != want {
			t.Errorf("%+v says %s, want %s", *err, got, want)
		}
	}
}

// What encoding/json would read the same way whatever the reader passes,
// and a syntax error is left to the decoder that runs next.
func TestCheckKeysPassesExactKeysAndLeavesSyntaxErrors(t *testing.T) {
	for _, body := range []string{
		`{"iss":"a","version":1,"entries":[{"state":"a"},{"state":"a"}],"extra":{"k":1,"K":2}}`,
		`{}`, `null`, `[]`, `1`,
		`{"iss":`, `{"iss":"a",}`, `{"iss":"a"}}`, ``,
	} {
		if err := CheckJSONKeys([]byte(body), new(statement)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}
