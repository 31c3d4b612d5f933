package api

import (
	"github.com/hcfed/hcfed/internal/strictjson"
	"github.com/hcfed/hcfed/node"
)

// checkKeys refuses what encoding/json lets through even with
// DisallowUnknownFields: an object key that matches a field of v's type
// only case-insensitively ("Name" for "name"), and a key given twice in
// one object (where encoding/json keeps the last). The rule is
// strictjson's, the one trust applies to signed statements, so every
// route that binds gets it; the words after "invalid JSON: " are
// strictjson's too. Syntax errors are left to the decoder that runs next,
// which reports them.
func checkKeys(body []byte, v any) error {
	if err := strictjson.CheckKeys(body, v); err != nil {
		return node.Errorf(node.EInvalid, "invalid JSON: %s", err.Error())
	}
	return nil
}
