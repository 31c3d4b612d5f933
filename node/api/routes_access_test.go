package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestEveryRouteRefusesCallersOfTheWrongRole walks every route the
// server registers — so that a route added later without a role check
// fails here — and calls it with a body of "{}", and again with a
// malformed one, as an anonymous client, as a registered scanner, and as
// a resident aiming at another resident (the path's :id is the other's subject id, :jti the other's code). Only
// the public routes, a scanner's verification, whoami and a resident's
// own appeal answer them; every other answer is a refusal that does not
// depend on what the route would do.
func TestEveryRouteRefusesCallersOfTheWrongRole(t *testing.T) {
	t.Parallel()
	const malformedBody = `{"name": [`
	n := startNode(t, "440000", generous)
	victim, victimTok := n.enrol(residentName, residentID)
	code := n.issue(victim, victimTok)
	_, other := n.enrol(otherName, otherID)

	public := map[string]bool{"GET /v1/privacy": true, "GET /v1/federation": true}
	scannerMay := map[string]bool{"POST /v1/verify": true, "GET /v1/whoami": true}
	residentMay := map[string]bool{"GET /v1/whoami": true, "POST /v1/appeals": true}
	// Another resident's code image is answered as an unknown code's
	// (TestQRImageAnswersAnotherResidentsCodeAsAnUnknownOne).
	residentWant := map[string]int{"GET /v1/codes/:jti/qr.png": http.StatusNotFound}

	tried := 0
	for _, r := range n.v1Routes(true) {
		key := r.Method + " " + r.Path
		if public[key] {
			continue
		}
		path := strings.NewReplacer(":id", victim, ":jti", code.JTI, ":kid", "kid", ":token", "tk_x").Replace(r.Path)
		replicaRoute := strings.HasPrefix(r.Path, "/v1/replica/")
		for _, c := range []struct {
			who, token string
			may        bool
			want       int
		}{
			{"anonymous", "", false, http.StatusUnauthorized},
			{"scanner", n.scanner, scannerMay[key], http.StatusForbidden},
			{"another resident", other, residentMay[key], http.StatusForbidden},
		} {
			if c.may {
				continue
			}
			want := c.want
			if w, ok := residentWant[key]; ok && c.who == "another resident" {
				want = w
			}
			if replicaRoute {
				want = http.StatusUnauthorized // only a replica's token opens them
			}
			// A malformed body gets the same refusal: the role is checked
			// before the body is read, so a caller who may not use the
			// route learns nothing of what it expects.
			for _, body := range []string{"{}", malformedBody} {
				if resp := n.call(r.Method, path, c.token, body, nil); resp.StatusCode != want {
					var e apiError
					json.NewDecoder(resp.Body).Decode(&e) //nolint:errcheck // for the message only
					t.Errorf("%s as %s with body %q: HTTP %d %+v, want %d", key, c.who, body, resp.StatusCode, e, want)
				}
			}
		}
		tried++
	}
	if tried < 30 {
		t.Fatalf("only %d routes tried: the walk missed the API", tried)
	}
	// Nothing of the victim's changed: the record and the code are there.
	if st, _ := n.status("GET", code.QRURL, victimTok, nil); st != http.StatusOK {
		t.Fatalf("the victim's own code after the walk: HTTP %d", st)
	}
}
