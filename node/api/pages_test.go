package api_test

import (
	"bytes"
	"compress/gzip"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestPagesAreServedWithAStrictPolicyInTheAskedLanguage(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	for _, route := range []string{"/", "/wallet", "/scan", "/console"} {
		resp, body := get(t, tn.d.URL+route, map[string]string{"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s", route, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "img-src 'self' blob: data:", "media-src 'self' blob:", "require-trusted-types-for 'script'", "trusted-types 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", route, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP allows something unsafe: %q", route, csp)
		}
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", route, got)
		}
		if resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s sets a cookie", route)
		}
		if !bytes.Contains(body, []byte(`<html lang="en">`)) {
			t.Errorf("%s: not served in English for an English Accept-Language", route)
		}
		camera := strings.Contains(resp.Header.Get("Permissions-Policy"), "camera=(self)")
		if camera != (route == "/scan") {
			t.Errorf("%s: Permissions-Policy %q; only /scan may use the camera", route, resp.Header.Get("Permissions-Policy"))
		}
	}
	_, body := get(t, tn.d.URL+"/wallet", map[string]string{"Accept-Language": "zh-CN,zh;q=0.9"})
	if !bytes.Contains(body, []byte(`<html lang="zh-CN">`)) {
		t.Error("/wallet not served in Chinese for a Chinese Accept-Language")
	}
	_, body = get(t, tn.d.URL+"/wallet?lang=en", map[string]string{"Accept-Language": "zh-CN"})
	if !bytes.Contains(body, []byte(`<html lang="en">`)) {
		t.Error("?lang=en does not override Accept-Language")
	}
}

func TestAssetsRevalidateByContentHash(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	resp, body := get(t, tn.d.URL+"/assets/common.js", nil)
	if resp.StatusCode != http.StatusOK || len(body) == 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("common.js: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("common.js: ETag %q, CSP %q", etag, resp.Header.Get("Content-Security-Policy"))
	}
	resp, _ = get(t, tn.d.URL+"/assets/common.js", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation with the same ETag: %d, want 304", resp.StatusCode)
	}
	resp, _ = get(t, tn.d.URL+"/assets/../node.db", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("path outside the assets: %d, want 404", resp.StatusCode)
	}
	resp, _ = get(t, tn.d.URL+"/assets/wallet.html", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a page under /assets: %d, want 404 (pages are served at their routes only)", resp.StatusCode)
	}
}

func TestEnrolmentAndScannerRegistrationReturnLinksWithTheTokenInTheFragment(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	var enrolled struct {
		ID            string `json:"id"`
		ResidentToken string `json:"resident_token"`
		WalletURL     string `json:"wallet_url"`
	}
	tn.call("POST", "/v1/subjects", tn.operator, enrolment(residentName, residentID), &enrolled)
	if want := tn.d.URL + "/wallet#token=" + enrolled.ResidentToken; enrolled.WalletURL != want {
		t.Fatalf("wallet_url %q, want %q", enrolled.WalletURL, want)
	}
	var sc struct {
		Token      string `json:"token"`
		ScannerURL string `json:"scanner_url"`
	}
	tn.call("POST", "/v1/scanners", tn.operator, map[string]string{"name": "gate 2", "place": "station"}, &sc)
	if want := tn.d.URL + "/scan#token=" + sc.Token; sc.ScannerURL != want {
		t.Fatalf("scanner_url %q, want %q", sc.ScannerURL, want)
	}

	var me map[string]string
	tn.call("GET", "/v1/whoami", enrolled.ResidentToken, nil, &me)
	if me["role"] != "resident" || me["subject_id"] != enrolled.ID || me["province"] != "440000" {
		t.Fatalf("whoami of a resident: %v", me)
	}
	var e apiError
	if resp := tn.call("GET", "/v1/whoami", "hct_not-a-token", nil, &e); resp.StatusCode != http.StatusUnauthorized || e.Error.Code != "unauthorized" {
		t.Fatalf("whoami with a bad token: %d %+v", resp.StatusCode, e)
	}

	resp := tn.call("POST", "/v1/qr", tn.operator, map[string]string{"url": enrolled.WalletURL}, nil)
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("link QR: %d %s", resp.StatusCode, raw)
	}
	if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Fatalf("link QR is not a PNG: %v", err)
	}
	for _, bad := range []string{"https://evil.example/wallet#token=x", tn.d.URL + "/console#token=x", tn.d.URL + "/wallet?token=x"} {
		if resp := tn.call("POST", "/v1/qr", tn.operator, map[string]string{"url": bad}, &e); resp.StatusCode != http.StatusBadRequest || e.Error.Code != "invalid" {
			t.Errorf("link QR of %q: %d %+v, want 400 invalid", bad, resp.StatusCode, e)
		}
	}
	if resp := tn.call("POST", "/v1/qr", enrolled.ResidentToken, map[string]string{"url": enrolled.WalletURL}, &e); resp.StatusCode != http.StatusForbidden {
		t.Errorf("link QR for a resident: %d, want 403", resp.StatusCode)
	}
}

// TestAssetsAreGzippedOnceAndServedFromMemory pins that an asset is
// compressed once, at start, not per request: two requests get the same
// gzipped bytes, whole, with their length known before the body is sent
// (a per-request compressor streams them without one); a client that does
// not accept gzip gets the plain bytes.
func TestAssetsAreGzippedOnceAndServedFromMemory(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	url := tn.d.URL + "/assets/vendor/jsQR.min.js"
	gz := map[string]string{"Accept-Encoding": "gzip"}
	first, a := get(t, url, gz)
	second, b := get(t, url, gz)
	for i, resp := range []*http.Response{first, second} {
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("request %d: %d, Content-Encoding %q, want 200 gzip", i+1, resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
		if resp.ContentLength != int64(len(a)) {
			t.Fatalf("request %d: Content-Length %d, want %d: the gzipped bytes were not served from memory", i+1, resp.ContentLength, len(a))
		}
		if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") || resp.Header.Get("ETag") == "" {
			t.Fatalf("request %d: Vary %q, ETag %q", i+1, resp.Header.Get("Vary"), resp.Header.Get("ETag"))
		}
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two requests for the same asset got different gzipped bytes")
	}
	plainResp, plain := get(t, url, map[string]string{"Accept-Encoding": "identity"})
	if plainResp.Header.Get("Content-Encoding") != "" || plainResp.ContentLength != int64(len(plain)) {
		t.Fatalf("identity: Content-Encoding %q, Content-Length %d", plainResp.Header.Get("Content-Encoding"), plainResp.ContentLength)
	}
	if plainResp.Header.Get("ETag") != first.Header.Get("ETag") {
		t.Fatalf("ETag %q plain, %q gzipped: caching headers changed", plainResp.Header.Get("ETag"), first.Header.Get("ETag"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, plain) || len(a) >= len(plain) {
		t.Fatalf("gzipped %d bytes unzip to %d (err %v), plain is %d", len(a), len(unzipped), err, len(plain))
	}
	if resp, _ := get(t, url, map[string]string{"Accept-Encoding": "gzip;q=0"}); resp.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip;q=0 refuses gzip, but got it")
	}
}

// TestEveryAnswerCarriesTheSecurityHeaders: not only the pages are opened
// in a browser. A mistyped or mangled link (/wallet/, /scan/x), a probe
// of the health check, a key set or an API error is shown by the browser
// as it comes: each must be an answer it never sniffs into a page, never
// lets another site frame, and runs nothing of. Before, a 404 outside
// /v1 and /assets, /healthz and /.well-known carried none of these.
func TestEveryAnswerCarriesTheSecurityHeaders(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	for _, c := range []struct {
		path   string
		status int
		page   bool // a page or an asset: its own policy
	}{
		{"/no-such-page", http.StatusNotFound, false},
		{"/wallet/", http.StatusNotFound, false},
		{"/scan/x<b>y</b>", http.StatusNotFound, false},
		{"/healthz", http.StatusOK, false},
		{"/.well-known/jwks.json", http.StatusOK, false},
		{"/v1/no-such-route", http.StatusUnauthorized, false},
		{"/v1/whoami", http.StatusUnauthorized, false},
		{"/v1/federation", http.StatusOK, false},
		{"/assets/no-such-file.js", http.StatusNotFound, true},
		{"/assets/common.js", http.StatusOK, true},
		{"/scan", http.StatusOK, true},
	} {
		resp, _ := get(t, tn.d.URL+c.path, nil)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.path, resp.StatusCode, c.status)
		}
		h := resp.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: X-Content-Type-Options %q, X-Frame-Options %q, Referrer-Policy %q", c.path,
				h.Get("X-Content-Type-Options"), h.Get("X-Frame-Options"), h.Get("Referrer-Policy"))
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "base-uri 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: Content-Security-Policy %q", c.path, csp)
		}
		if !c.page && !strings.HasPrefix(csp, "default-src 'none'") {
			t.Errorf("%s: Content-Security-Policy %q; an answer that is no page may load nothing", c.path, csp)
		}
		if c.page && !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q; a page or asset keeps the pages' policy", c.path, csp)
		}
	}
}
