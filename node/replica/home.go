package replica

import (
	"bytes"
	"context"
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
)

// Paths of the home node's replica API.
const (
	RegisterPath = "/v1/replica/register"
	SyncPath     = "/v1/replica/sync"
	RecordsPath  = "/v1/replica/records"
)

// maxHomeResponse bounds what the replica reads of one answer from home:
// the sealed content keys and every scanner's token hash.
const maxHomeResponse = 8 << 20

// homeClient speaks to the home node's replica API with the replica token.
type homeClient struct {
	base  string
	token string
	hc    *http.Client
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
		hc: &http.Client{Transport: tr, Timeout: requestTimeout(r)}}, nil
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
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return fmt.Errorf("home node: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHomeResponse))
	if err != nil {
		return fmt.Errorf("home node: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return &HomeError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("home node: answer: %w", err)
	}
	return nil
}

// RegisterRequest is the body of POST /v1/replica/register.
type RegisterRequest struct {
	EncKey json.RawMessage `json:"enc_key"`
}

// RecordsRequest is the body of POST /v1/replica/records.
type RecordsRequest struct {
	Records []node.ReplicaRecord `json:"records"`
}

// RecordsAnswer is the answer to POST /v1/replica/records.
type RecordsAnswer struct {
	Accepted int `json:"accepted"` // records new to the home node
}
