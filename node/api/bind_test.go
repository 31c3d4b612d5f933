package api_test

import "testing"

// TestBodyWithTrailingDataIsRefused covers trailing data that a JSON
// decoder's More reports as "no more values": a stray closer.
func TestBodyWithTrailingDataIsRefused(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	for _, body := range []string{`{"code":"x"}}`, `{"code":"x"}]`, `{"code":"x"} {}`, `{"code":"x"} x`} {
		var e apiError
		if resp := n.call("POST", "/v1/verify", n.scanner, body, &e); resp.StatusCode != 400 || e.Error.Code != "invalid" {
			t.Errorf("%s: HTTP %d %+v, want 400 invalid", body, resp.StatusCode, e)
		}
	}
	if v := n.verify("x"); v.Valid || v.Reason != "malformed" {
		t.Fatalf("well-formed body: %+v", v)
	}
}
