package main

import (
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/config"
)

// An enrolment file is held to the API's key rule: a key given twice, or
// spelled as no field, is refused by name, not collapsed by the local
// decoding into one value the API would then take.
func TestEnrolmentFileRefusesDuplicateAndMiscasedKeys(t *testing.T) {
	for file, want := range map[string]string{
		`{"name":"张三","name":"李四"}`: `duplicate key "name"`,
		`{"name":"张三","Name":"李四"}`: `unknown field "Name"`,
	} {
		_, err := readEnrolment(strings.NewReader(file), "-")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %s", file, err, want)
		}
	}
}

// A key that is no field of an enrolment may be a value written where a
// key goes — a spreadsheet export that made the ID number a key — and the
// refusal quoted it, on a terminal or in a job's log. It now names the
// fields instead; a field's name in another case is still quoted.
func TestEnrolmentFileRefusalQuotesNoKeyThatIsNotAField(t *testing.T) {
	for file, secret := range map[string]string{
		`{"name":"张三","11010519491231002X":true}`:                                          "11010519491231002X",
		`{"张三":"11010519491231002X"}`:                                                      "张三",
		`{"consent":{"notice_version":"` + config.NoticeVersion + `","13800138000":true}}`: "13800138000",
	} {
		_, err := readEnrolment(strings.NewReader(file), "-")
		if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "id_number") {
			t.Errorf("%s: %v, want a refusal that lists the fields and does not quote %q", file, err, secret)
		}
	}
}

// Nothing but white space may follow the enrolment: not a second value,
// nor a stray closer, which a decoder's More takes for the end.
func TestEnrolmentFileRefusesTrailingData(t *testing.T) {
	for _, tail := range []string{"}", "]", ` {"name":"李四"}`, " x"} {
		_, err := readEnrolment(strings.NewReader(`{"name":"张三"}`+tail), "-")
		if err == nil || !strings.Contains(err.Error(), "holds more than one JSON value") {
			t.Errorf("%q after the enrolment: %v", tail, err)
		}
	}
	if _, err := readEnrolment(strings.NewReader("{\"name\":\"张三\"}\n"), "-"); err != nil {
		t.Fatalf("enrolment ending in a newline: %v", err)
	}
}
