package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

var client = &http.Client{Timeout: 10 * time.Second}

// do sends a JSON request to a node's API and decodes a JSON answer into
// out (unless nil). It returns the status, or an error for a failed
// exchange or an undecodable answer.
func do(method, url, token string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %v in %q", method, url, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	return resp.StatusCode, nil
}

// call is do that fails t unless the answer has status want.
func call(t *testing.T, method, url, token string, in, out any, want int) {
	t.Helper()
	status, err := do(method, url, token, in, out)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d (%v)", method, url, status, want, err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// verification is the answer of POST /v1/verify.
type verification struct {
	Valid      bool   `json:"valid"`
	Reason     string `json:"reason"`
	Issuer     string `json:"issuer"`
	Status     string `json:"status"`
	MaskedName string `json:"masked_name"`
}

// verify has n's scanner verify code.
func (n *node) verify(code string) (verification, error) {
	var v verification
	_, err := do("POST", n.url+"/v1/verify", n.scanner, map[string]string{"code": code}, &v)
	return v, err
}

// enrolments counts enrolments, so that each has its own ID number.
var enrolments atomic.Int64

// enrolAndIssue enrols a resident in n with consent to n's current
// privacy notice and issues a code; it returns the subject id and code.
func (n *node) enrolAndIssue(t *testing.T) (subject, code string) {
	t.Helper()
	var notice struct{ Version string }
	call(t, "GET", n.url+"/v1/privacy", "", nil, &notice, 200)
	var enrolled struct{ ID string }
	call(t, "POST", n.url+"/v1/subjects", n.operator, map[string]any{
		"name": "张三", "id_number": testkit.IDNumber("110105194912", int(enrolments.Add(1))),
		"consent": map[string]any{"notice_version": notice.Version, "accepted": true},
	}, &enrolled, 201)
	var issued struct{ Code string }
	call(t, "POST", n.url+"/v1/subjects/"+enrolled.ID+"/codes", n.operator, nil, &issued, 201)
	return enrolled.ID, issued.Code
}

// setStatus changes a subject's health status in its home node n.
func (n *node) setStatus(t *testing.T, subject, status string) {
	t.Helper()
	call(t, "PUT", n.url+"/v1/subjects/"+subject+"/status", n.operator,
		map[string]string{"status": status, "reason": "e2e: close contact"}, nil, 200)
}
