package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// demo is a three-province federation as 'hcnode demo' starts it.
type demo struct {
	t *testing.T
	c *daemon.Cluster
}

func startDemo(t *testing.T) *demo {
	t.Helper()
	c, err := daemon.StartCluster(context.Background(), daemon.ClusterConfig{Dir: t.TempDir(), Provinces: []daemon.Province{
		{ID: "440000", Name: "Guangdong", Listen: "127.0.0.1:0"},
		{ID: "310000", Name: "Shanghai", Listen: "127.0.0.1:0"},
		{ID: "110000", Name: "Beijing", Listen: "127.0.0.1:0"},
	}, Configure: func(cfg *config.Config) {
		// A person scans and reloads at human pace; the tests do not.
		cfg.Limits.ScannerRate, cfg.Limits.ScannerBurst = 100, 100
		cfg.Limits.ResidentRate, cfg.Limits.ResidentBurst = 100, 100
		// Receipts of checks in another province reach the wallet in a
		// second, not the default hour.
		cfg.Privacy.ReceiptsEvery = time.Second
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	d := &demo{t: t, c: c}
	// Every node holds every member's keyset before the pages are used.
	for i := range c.Nodes {
		poll(t, "federation sync", func() error {
			var v struct {
				Members []struct {
					ID            string   `json:"id"`
					KeysetVersion uint64   `json:"keyset_version"`
					ContentKeys   []string `json:"content_keys"`
				} `json:"members"`
			}
			d.call(i, "GET", "/v1/federation", "", nil, &v)
			n := 0
			for _, m := range v.Members {
				if m.KeysetVersion > 0 && len(m.ContentKeys) > 0 {
					n++
				}
			}
			if n != 3 {
				return fmt.Errorf("%s holds %d of 3 members' keys", c.Configs[i].Province, n)
			}
			return nil
		})
	}
	return d
}

func (d *demo) url(i int) string { return d.c.Nodes[i].URL }

func (d *demo) call(i int, method, path, token string, body, out any) int {
	d.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, d.url(i)+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			d.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

type verification struct {
	Valid      bool   `json:"valid"`
	Reason     string `json:"reason"`
	Status     string `json:"status"`
	MaskedName string `json:"masked_name"`
}

// addScanner registers a scanner through the API and returns its token.
func addScanner(t *testing.T, d *demo, i int) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	if st := d.call(i, "POST", "/v1/scanners", d.c.Tokens[i], map[string]string{"name": "api gate", "place": "checkpoint"}, &out); st != http.StatusCreated {
		t.Fatalf("add scanner: %d", st)
	}
	return out.Token
}

// scanResult is what the scanner's full-screen result says.
type scanResult struct {
	Class, Status, Name, Province, Text, Next, Reason string
}

func (r scanResult) green() bool { return strings.Contains(r.Class, "status-green") }

func (tb *tab) result() scanResult {
	tb.t.Helper()
	return eval[scanResult](tb, `(() => { const r = document.getElementById("result"); return {Class: r.className, Status: document.getElementById("result-status").textContent,
		Name: document.getElementById("result-name").textContent, Province: document.getElementById("result-province").textContent,
		Text: document.getElementById("result-reason").textContent, Next: document.getElementById("result-next").textContent, Reason: r.dataset.reason}; })()`)
}

// paste types a code into the scanner's field as a keyboard wedge would
// and waits for the result.
func (tb *tab) paste(code string) scanResult {
	tb.t.Helper()
	tb.setValue("#code-input", code)
	tb.click(`#paste-form button[type="submit"]`)
	tb.waitJS("the scan result", `!document.getElementById("result").hidden`)
	return tb.result()
}
