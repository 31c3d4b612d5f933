package api

import (
	"testing"

	"github.com/hcfed/hcfed/node"
)

// statusLineCases are lines the hand-written reader must take (fast) or
// leave to the strict decoder (slow), which must then decide the same.
var statusLineCases = []struct {
	line string
	fast bool
}{
	{`{"subject":"s-1","status":"yellow"}`, true},
	{` { "subject" : "s-1" , "status":"red", "reason":"密接", "ref":"r1" } `, true},
	{"{\t\"ref\":\"x\"\r\n}", true},
	{`{}`, true},
	{`{"subject":"s-\u0031","status":"red"}`, false}, // escape: strict decoder
	{`{"subject":"s-1","subject":"s-2"}`, false},     // duplicate key
	{`{"Subject":"s-1"}`, false},                     // case variant
	{`{"subject":"s-1","extra":"x"}`, false},         // unknown field
	{`{"subject":1}`, false},                         // wrong type
	{`{"subject":null}`, false},
	{`{"subject":"s-1",}`, false},
	{`{"subject":"s-1"} x`, false},
	{`{"subject":"s-1"`, false},
	{`{"subject" "s-1"}`, false},
	{`["subject"]`, false},
	{"{\"subject\":\"a\xffb\"}", false}, // invalid UTF-8
	{"{\"subject\":\"a\tb\"}", false},   // control character
	{``, false},
	{`   `, false},
}

// The bulk path's hand-written line reader gives exactly what the strict
// decoder gives for every line it takes, and leaves every other line to
// it, so a line is accepted or refused the same either way.
func TestBulkLineReaderAgreesWithTheStrictDecoder(t *testing.T) {
	for _, c := range statusLineCases {
		var fast node.StatusLine
		took := fastStatusLine([]byte(c.line), &fast)
		if took != c.fast {
			t.Errorf("%q: read by hand = %v, want %v", c.line, took, c.fast)
		}
		var strict node.StatusLine
		strictErr := decode([]byte(c.line), &strict)
		if took && (strictErr != nil || fast != strict) {
			t.Errorf("%q: by hand %+v, strict %+v (%v)", c.line, fast, strict, strictErr)
		}
		var got node.StatusLine
		err := decodeStatusLine([]byte(c.line), &got)
		if (err == nil) != (strictErr == nil) || got != strict {
			t.Errorf("%q: decodeStatusLine %+v (%v), strict %+v (%v)", c.line, got, err, strict, strictErr)
		}
	}
}

func FuzzBulkLineReader(f *testing.F) {
	for _, c := range statusLineCases {
		f.Add([]byte(c.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var fast, strict node.StatusLine
		if !fastStatusLine(line, &fast) {
			return
		}
		if err := decode(line, &strict); err != nil || fast != strict {
			t.Fatalf("%q: by hand %+v, strict %+v (%v)", line, fast, strict, err)
		}
	})
}
