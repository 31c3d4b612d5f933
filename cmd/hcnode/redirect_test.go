package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recorder is an HTTP server that records the requests it receives and
// the Authorization header of each.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD PATH AUTHORIZATION"
}

func newRecorder(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		rec.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.seen...)
}

// The CLI follows no redirect: Go's client carries the Authorization
// header to a redirect on the same host, so a node URL that redirects
// (a proxy's route, another service) would be sent the token. Each
// command fails saying so, and the redirect target sees no request.
// Before, the commands followed it, the bearer token with them.
func TestCommandsFollowNoRedirect(t *testing.T) {
	var srv *recorder
	srv = newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{}`))
			return
		}
		// 307 keeps the method and the body.
		http.Redirect(w, r, srv.URL+"/elsewhere", http.StatusTemporaryRedirect)
	})
	t.Setenv("HCNODE_URL", srv.URL)
	t.Setenv("HCNODE_TOKEN", "secret-token")
	statuses := filepath.Join(t.TempDir(), "statuses.ndjson")
	if err := os.WriteFile(statuses, []byte(`{"subject":"s_1","status":"green","reason":"r"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"lookups", "s_1"},         // GET, an operator's token
		{"issue", "s_1"},           // POST with a body
		{"notice"},                 // a public route, no token
		{"statuses", statuses},     // the streaming client
		{"subject", "show", "s_1"}, // GET
	} {
		_, _, err := runCLI(t, "", args...)
		want := "the node answered a redirect to " + srv.URL + "/elsewhere, and hcnode does not follow redirects"
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "point --url (or $HCNODE_URL) at the node itself") {
			t.Errorf("hcnode %s: %v, want the redirect refused", strings.Join(args, " "), err)
		}
	}
	for _, r := range srv.requests() {
		if strings.HasPrefix(strings.SplitN(r, " ", 3)[1], "/elsewhere") {
			t.Errorf("the redirect target was sent %q", r)
		}
	}
}

// issue --qr fetches the QR image only from the node at --url: a
// qr_url that is a path goes to --url joined with it, an absolute URL
// under --url is taken as it is, and any other (another host, "//HOST"
// form) is refused after the code is issued, without a request there.
// Before, the URL the node sent was appended to --url as it was. A
// loopback alias of --url's host ("localhost" for 127.0.0.1), on its
// scheme and port, is the node too: it was refused, though a node
// listening on 127.0.0.1 names itself so whatever --url says.
func TestIssueFetchesTheQRImageOnlyFromTheNode(t *testing.T) {
	other := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("png")) })
	var qrURL string
	var mu sync.Mutex
	n := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			mu.Lock()
			defer mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"code": "HCF1:x", "jti": "c_1", "exp": 1, "qr_url": qrURL})
			return
		}
		_, _ = w.Write([]byte("png"))
	})
	t.Setenv("HCNODE_URL", n.URL+"/")
	t.Setenv("HCNODE_TOKEN", "secret-token")
	otherHost := strings.TrimPrefix(other.URL, "http://")
	port := n.URL[strings.LastIndex(n.URL, ":")+1:]
	notOnNode := func(u string) string {
		return "the node gave " + u + ", not an address on the node at --url " + n.URL
	}
	for _, c := range []struct{ qrURL, refused string }{
		{"/v1/codes/c_1/qr.png", ""},
		{n.URL + "/v1/codes/c_1/qr.png", ""},
		{"http://localhost:" + port + "/v1/codes/c_1/qr.png", ""},
		{"http://LocalHost:" + port + "/v1/codes/c_1/qr.png", ""},
		{"http://[::1]:" + port + "/v1/codes/c_1/qr.png", ""},
		{"http://127.0.0.2:" + port + "/v1/codes/c_1/qr.png", ""},
		{"http://localhost:" + other.URL[strings.LastIndex(other.URL, ":")+1:] + "/v1/codes/c_1/qr.png",
			notOnNode("http://localhost:" + other.URL[strings.LastIndex(other.URL, ":")+1:] + "/v1/codes/c_1/qr.png")},
		{"https://localhost:" + port + "/v1/codes/c_1/qr.png", notOnNode("https://localhost:" + port + "/v1/codes/c_1/qr.png")},
		{"http://hc.example.gov.cn:" + port + "/v1/codes/c_1/qr.png", notOnNode("http://hc.example.gov.cn:" + port + "/v1/codes/c_1/qr.png")},
		{"http://user@localhost:" + port + "/v1/codes/c_1/qr.png", notOnNode("http://user@localhost:" + port + "/v1/codes/c_1/qr.png")},
		{other.URL + "/v1/codes/c_1/qr.png", "code c_1 issued, but its QR image: the node gave " + other.URL + "/v1/codes/c_1/qr.png, not an address on the node at --url " + n.URL},
		{"//" + otherHost + "/v1/codes/c_1/qr.png", `code c_1 issued, but its QR image: the node gave "//` + otherHost + `/v1/codes/c_1/qr.png", not a path on the node`},
		{"v1/codes/c_1/qr.png", `not a path on the node`},
	} {
		mu.Lock()
		qrURL = c.qrURL
		mu.Unlock()
		qr := filepath.Join(t.TempDir(), "qr.png")
		_, _, err := runCLI(t, "", "issue", "s_1", "--qr", qr)
		if c.refused == "" {
			if b, rerr := os.ReadFile(qr); err != nil || rerr != nil || string(b) != "png" {
				t.Errorf("qr_url %s: %v, %v %q", c.qrURL, err, rerr, b)
			}
			if got := n.requests(); got[len(got)-1] != "GET /v1/codes/c_1/qr.png Bearer secret-token" {
				t.Errorf("qr_url %s: the node got %q", c.qrURL, got)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.refused) {
			t.Errorf("qr_url %s: %v, want %q", c.qrURL, err, c.refused)
		}
	}
	if got := other.requests(); len(got) > 0 {
		t.Errorf("another host was sent %q", got)
	}
}

// A qr_url under --url with a path (a node behind a proxy at /hc) keeps
// its query and loses the prefix; a port written or left to its scheme's
// default is one port; a path that only begins like the prefix is not
// under it.
func TestNodePathTakesALoopbackAliasUnderTheURLsPath(t *testing.T) {
	for _, c := range []struct{ base, raw, want string }{
		{"http://localhost:8080/hc/", "http://127.0.0.1:8080/hc/v1/codes/c_1/qr.png?s=1", "/v1/codes/c_1/qr.png?s=1"},
		{"http://127.0.0.1", "http://localhost:80/v1/codes/c_1/qr.png", "/v1/codes/c_1/qr.png"},
		{"http://localhost:8080/hc", "http://127.0.0.1:8080/hcx/v1/codes/c_1/qr.png", ""},
		{"http://localhost:8080", "http://127.0.0.1/v1/codes/c_1/qr.png", ""},
		{"http://localhost:8080", "http://10.0.0.1:8080/v1/codes/c_1/qr.png", ""},
	} {
		got, err := (&client{url: c.base}).nodePath(c.raw)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("--url %s, qr_url %s: %q, %v; want %q", c.base, c.raw, got, err, c.want)
		}
	}
}
