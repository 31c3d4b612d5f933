package replica

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/trust"
)

// Paths of the home node's replica API.
const (
	RegisterPath = "/v1/replica/register"
	StatusPath   = "/v1/replica/status"
	SyncPath     = "/v1/replica/sync"
	RecordsPath  = "/v1/replica/records"
)

// maxHomeResponse bounds what the replica reads of one answer from home:
// the sealed content keys and every scanner's token hash. A scanner takes
// about 140 bytes of it, 430 at most (a place of 50 characters that JSON
// escapes, '<' for one); TestMaxHomeResponseHoldsTwoHundredThousandScanners
// holds it to 200,000 of the largest. Home sends the list only when it
// changed (an unchanged one is answered 304), so a replica holds it in
// memory, read and decoded, only then.
const maxHomeResponse = 96 << 20

// AnswerTooLargeError is an answer of home's longer than maxHomeResponse:
// none of it is used.
type AnswerTooLargeError struct {
	Path  string
	Limit int64
}

func (e *AnswerTooLargeError) Error() string {
	return fmt.Sprintf("the home node's answer to %s is larger than this build of the replica reads "+
		"(%d bytes, maxHomeResponse in node/replica/home.go, at least 200,000 scanners): none of it is used, "+
		"and scanners are refused (replica_stale) once replica.max_stale passes; "+
		"remove the scanners no longer in use at home ('hcnode scanner remove'), or run a build with a larger limit",
		e.Path, e.Limit)
}

// homeClient speaks to the home node's replica API with the replica token.
type homeClient struct {
	base  string
	token string
	hc    *http.Client
	limit int64             // maxHomeResponse; a test's may be lower
	sig   *ecdsa.PrivateKey // signs record batches (signed); nil in a check
}

// requestTimeout bounds one request to home: replica.refresh, at least
// one second. A scanner removed at home is refused at every replica
// within replica.refresh plus this.
func requestTimeout(r config.Replica) time.Duration { return max(r.Refresh, time.Second) }

func newHomeClient(r config.Replica, token string) (*homeClient, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, fmt.Errorf("replica.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("replica.ca_file %s: no PEM certificate", r.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &homeClient{base: strings.TrimRight(r.Home, "/"), token: token,
		hc: &http.Client{Transport: tr, Timeout: requestTimeout(r)}, limit: maxHomeResponse}, nil
}

// HomeError is an error answer of the home node, with its stable code.
type HomeError struct {
	Status  int
	Code    string
	Message string
}

func (e *HomeError) Error() string {
	return fmt.Sprintf("home node answered %d %s: %s", e.Status, e.Code, e.Message)
}

// do sends in (if not nil) as JSON and decodes the answer into out.
func (h *homeClient) do(ctx context.Context, method, path string, in, out any) error {
	_, err := h.send(ctx, method, path, in, "", out, false)
	return err
}

// signed posts in to path as do does, with the body signed by the
// replica's signing key (node.ReplicaSignatureHeader).
func (h *homeClient) signed(ctx context.Context, path string, in, out any) error {
	_, err := h.send(ctx, http.MethodPost, path, in, "", out, true)
	return err
}

// sync asks home for the scanners and content keys, sending back tag, the
// ETag of the last answer installed (none if empty). It returns the
// answer's ETag, and unchanged true for a 304: nothing in it changed.
func (h *homeClient) sync(ctx context.Context, tag string, out *node.ReplicaSync) (newTag string, unchanged bool, err error) {
	resp, err := h.send(ctx, http.MethodGet, SyncPath, nil, tag, out, false)
	if err != nil {
		return "", false, err
	}
	return resp.Header.Get("ETag"), resp.StatusCode == http.StatusNotModified, nil
}

// send sends in (if not nil) as JSON, signed if sign, with
// If-None-Match: tag if tag is not empty, and decodes a 200's answer into
// out (if not nil).
func (h *homeClient) send(ctx context.Context, method, path string, in any, tag string, out any, sign bool) (*http.Response, error) {
	var body io.Reader
	var signature string
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		if sign {
			if h.sig == nil {
				return nil, fmt.Errorf("%s: no signing key", path)
			}
			if signature, err = trust.SignReplicaRecords(h.sig, b); err != nil {
				return nil, err
			}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	if signature != "" {
		req.Header.Set(node.ReplicaSignatureHeader, signature)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tag != "" {
		req.Header.Set("If-None-Match", tag)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("home node: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return resp, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, h.limit+1))
	if err != nil {
		return nil, fmt.Errorf("home node: %w", err)
	}
	if int64(len(data)) > h.limit {
		return nil, &AnswerTooLargeError{Path: path, Limit: h.limit}
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return nil, &HomeError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("home node: answer: %w", err)
		}
	}
	return resp, nil
}

// RegisterRequest is the body of POST /v1/replica/register: the
// replica's enc key and its signing key (never one key for both); home
// answers a node.ReplicaStatus.
type RegisterRequest struct {
	EncKey json.RawMessage `json:"enc_key"`
	SigKey json.RawMessage `json:"sig_key"`
}

// RecordsRequest is the body of POST /v1/replica/records.
type RecordsRequest struct {
	Records []node.ReplicaRecord `json:"records"`
}

// RecordsAnswer is the answer to POST /v1/replica/records.
type RecordsAnswer struct {
	Accepted int `json:"accepted"` // records new to the home node
}
