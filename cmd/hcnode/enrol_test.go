package main

import (
	"strings"
	"testing"
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
