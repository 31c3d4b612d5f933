package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Every command that puts an id it is given into the API path escapes it
// as one path segment (apiPath): a "/", "?" or "#" in the id stays in it,
// never another route or a query; an id no escape carries ("", ".",
// "..": a dot segment is a step up to whatever normalises the URL) is
// refused before any request. Before, ".." and "" went out as they were:
// 'hcnode subject show ..' asked for GET /v1/subjects/.. and 'subject
// delete "" --yes' sent DELETE /v1/subjects/, which a proxy in front of
// the node takes for /v1/ and /v1/subjects.
func TestCommandsPutAnIDIntoThePathAsOneSegment(t *testing.T) {
	n := startTestNode(t)
	// A proxy in front of the node records each request as the node
	// receives it.
	target, err := url.Parse(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Who the token is (a plan asks it first, with --yes too) names
		// no id.
		if r.RequestURI != "/v1/whoami" {
			mu.Lock()
			got = append(got, r.Method+" "+r.RequestURI)
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("HCNODE_URL", srv.URL)
	t.Setenv("HCNODE_TOKEN", n.token)

	// Each command, with ID where the id goes, and the request it makes
	// with SEG the id's one path segment.
	cmds := []struct{ args, want string }{
		{"status ID green --reason r", "PUT /v1/subjects/SEG/status"},
		{"subject show ID", "GET /v1/subjects/SEG"},
		{"subject delete ID --yes", "DELETE /v1/subjects/SEG"},
		{"subject withdraw-paper ID --yes", "DELETE /v1/subjects/SEG/paper-codes"},
		{"subject token ID --id-number 1 --yes", "POST /v1/subjects/SEG/token"},
		{"lookups ID", "GET /v1/subjects/SEG/lookups"},
		{"issue ID", "POST /v1/subjects/SEG/codes"},
		{"appeals resolve ID --outcome rejected --note n", "PUT /v1/appeals/SEG"},
		{"scanner remove ID --yes", "DELETE /v1/scanners/SEG"},
		{"replica remove ID --yes", "DELETE /v1/replicas/SEG"},
		{"replica confirm ID AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA --yes", "POST /v1/replicas/SEG/confirm"},
		{"account token ID", "POST /v1/accounts/SEG/tokens"},
		{"account revoke ID ID", "DELETE /v1/accounts/SEG/tokens/SEG"},
		{"account disable ID --yes", "DELETE /v1/accounts/SEG"},
		{"keys compromise --yes -- ID", "POST /v1/keys/SEG/compromise"},
	}
	argv := func(args, id string) []string {
		a := strings.Fields(args)
		for i := range a {
			if a[i] == "ID" {
				a[i] = id
			}
		}
		return a
	}
	// Ids that would reach another route or make a query, and their
	// segment as sent.
	for id, seg := range map[string]string{
		"s_1/../../keys/rotate": "s_1%2F..%2F..%2Fkeys%2Frotate",
		"s_1?role=admin#x":      "s_1%3Frole=admin%23x",
		"..%2Fkeys":             "..%252Fkeys",
		"a..":                   "a..",
	} {
		for _, c := range cmds {
			mu.Lock()
			got = nil
			mu.Unlock()
			_, _, err := runCLI(t, "", argv(c.args, id)...)
			if err == nil {
				t.Errorf("hcnode %s: no such id, and no error", strings.Join(argv(c.args, id), " "))
			}
			want := strings.ReplaceAll(c.want, "SEG", seg)
			mu.Lock()
			if len(got) != 1 || got[0] != want {
				t.Errorf("hcnode %s: the node received %q, want %q alone", strings.Join(argv(c.args, id), " "), got, want)
			}
			mu.Unlock()
		}
	}
	// Ids no escape carries are refused, and nothing is sent.
	for _, id := range []string{"..", ".", ""} {
		for _, c := range cmds {
			mu.Lock()
			got = nil
			mu.Unlock()
			_, _, err := runCLI(t, "", argv(c.args, id)...)
			if !isUsageError(err) || !strings.Contains(err.Error(), "is not an id") {
				t.Errorf("hcnode %s: %v, want a usage error saying it is not an id", strings.Join(argv(c.args, id), " "), err)
			}
			mu.Lock()
			if len(got) != 0 {
				t.Errorf("hcnode %s: the node received %q, want nothing", strings.Join(argv(c.args, id), " "), got)
			}
			mu.Unlock()
		}
	}
}
