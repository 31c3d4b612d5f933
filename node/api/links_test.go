package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/config"
)

// TestLinksAreBuiltOnConfigurationNotOnTheRequestsHost: a request whose
// Host header (and X-Forwarded-Proto / -Host) names another site gets
// wallet and scanner links under the node's own base all the same —
// public_url, or the loopback address it listens on when that is unset —
// and the link QR refuses a link to the forged site. Before, without
// public_url, the links were built on the request's scheme and Host, so
// a forged Host had the node hand out its residents' wallet links (their
// tokens in the fragment) under an attacker's site.
func TestLinksAreBuiltOnConfigurationNotOnTheRequestsHost(t *testing.T) {
	t.Parallel()
	for name, publicURL := range map[string]string{"public_url": "https://hc.example.gov.cn/", "loopback listen": ""} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tn := startNode(t, "440000", func(c *config.Config) { c.PublicURL = publicURL })
			base := strings.TrimSuffix(publicURL, "/")
			if base == "" {
				base = tn.d.URL
			}
			var enrolled struct {
				ID        string `json:"id"`
				WalletURL string `json:"wallet_url"`
			}
			forged(t, tn, "POST", "/v1/subjects", enrolment(residentName, residentID), &enrolled)
			if !strings.HasPrefix(enrolled.WalletURL, base+"/wallet#token=") {
				t.Errorf("wallet_url of an enrolment with a forged Host: %q, want it under %s", enrolled.WalletURL, base)
			}
			var replaced struct {
				WalletURL string `json:"wallet_url"`
			}
			forged(t, tn, "POST", "/v1/subjects/"+enrolled.ID+"/token", map[string]string{"id_number": residentID}, &replaced)
			if !strings.HasPrefix(replaced.WalletURL, base+"/wallet#token=") {
				t.Errorf("wallet_url of a replaced token with a forged Host: %q, want it under %s", replaced.WalletURL, base)
			}
			var sc struct {
				ScannerURL string `json:"scanner_url"`
			}
			forged(t, tn, "POST", "/v1/scanners", map[string]string{"name": "gate 2", "place": "station"}, &sc)
			if !strings.HasPrefix(sc.ScannerURL, base+"/scan#token=") {
				t.Errorf("scanner_url with a forged Host: %q, want it under %s", sc.ScannerURL, base)
			}
			if st := forged(t, tn, "POST", "/v1/qr", map[string]string{"url": "https://evil.example/wallet#token=x"}, nil); st != http.StatusBadRequest {
				t.Errorf("a QR of a link to the forged Host: HTTP %d, want 400", st)
			}
			if st := forged(t, tn, "POST", "/v1/qr", map[string]string{"url": replaced.WalletURL}, nil); st != http.StatusOK {
				t.Errorf("a QR of the node's own wallet link: HTTP %d, want 200", st)
			}
		})
	}
}

// forged sends an operator's request to tn with a Host header, and the
// forwarding headers a proxy would set, naming another site; it decodes
// a 2xx JSON answer into out and returns the status.
func forged(t *testing.T, tn *testNode, method, path string, body, out any) int {
	t.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, tn.d.URL+path, bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "evil.example"
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Authorization", "Bearer "+tn.operator)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: HTTP %d %s", method, path, resp.StatusCode, raw)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}
