package api

import (
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/trust"
)

// checkKeys refuses what encoding/json lets through even with
// DisallowUnknownFields: an object key that matches a field of v's type
// only case-insensitively ("Name" for "name"), and a key given twice in
// one object (where encoding/json keeps the last). The rule is
// trust's (CheckJSONKeys), the one it applies to signed statements, so every
// route that binds gets it; the words after "invalid JSON: " are
// trust's too. Syntax errors are left to the decoder that runs next,
// which reports them.
func checkKeys(body []byte, v any) error {
	if err := trust.CheckJSONKeys(body, v); err != nil {
		return node.Errorf(node.EInvalid, "invalid JSON: %s", err.Error())
	}
	return nil
}
