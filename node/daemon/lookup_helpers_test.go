package daemon_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/nats-io/nats.go"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Indexes of threeProvinces.
const (
	gd = 0 // Guangdong, the home province in these tests
	sh = 1 // Shanghai, the visited province
	bj = 2 // Beijing
)

const legalBasis = "《传染病防治法》第三十一条：红码人员流调联系"

// lookupFed is a three-province federation that collects phone numbers,
// on an injected clock.
type lookupFed struct {
	*fedTest
	clock *testClock
}

func startLookupFederation(t *testing.T) *lookupFed {
	t.Helper()
	clock := &testClock{}
	c, err := daemon.StartCluster(context.Background(), daemon.ClusterConfig{Dir: t.TempDir(), Provinces: threeProvinces,
		Now: clock.Now, Configure: lookupConfig})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	f := &lookupFed{fedTest: &fedTest{t: t, c: c}, clock: clock}
	for i := range c.Nodes {
		f.addScanner(i)
	}
	return f
}

// lookupConfig is the provinces' config in a lookupFed: phone numbers
// collected, receipts sent every second.
func lookupConfig(cfg *config.Config) {
	scannerFriendly(cfg)
	cfg.Privacy.Collect = []string{"name", "id_number", "phone"}
	cfg.Privacy.ReceiptsEvery = time.Second
}

// resident is an enrolled resident with a code.
type resident struct {
	ID, Token, Code, JTI string
}

func (f *lookupFed) enrolWithPhone(i int, name, id, phone string) resident {
	f.t.Helper()
	var r resident
	var e struct {
		ID            string `json:"id"`
		ResidentToken string `json:"resident_token"`
	}
	f.mustCall(i, "POST", "/v1/subjects", f.c.Tokens[i], map[string]any{"name": name, "id_number": id, "phone": phone,
		"consent": map[string]any{"notice_version": config.NoticeVersion, "accepted": true}}, &e, 201)
	var c struct{ Code, JTI string }
	f.mustCall(i, "POST", "/v1/subjects/"+e.ID+"/codes", e.ResidentToken, nil, &c, 201)
	r.ID, r.Token, r.Code, r.JTI = e.ID, e.ResidentToken, c.Code, c.JTI
	return r
}

// waitPeersReady waits until every node holds every other's keyset with
// its encryption key (lookups need both directions) and a content key of
// each (a code verified elsewhere right after its issue is otherwise
// no_content_key: the key is granted over NATS, after the keyset).
func (f *lookupFed) waitPeersReady() {
	f.t.Helper()
	for _, d := range f.c.Nodes {
		for _, other := range f.c.Configs {
			waitFor(f.t, d.Node.Province()+" holding the keyset and a content key of "+other.Province, func() error {
				st := d.Node.State()
				if ks := st.Keyset(other.Province); ks == nil || ks.EncKey == nil {
					return errors.New("no keyset yet")
				}
				if len(st.ContentKeyIDs(other.Province)) == 0 {
					return errors.New("no content key yet")
				}
				return nil
			})
		}
	}
}

// lookup asks province i's API for a lookup and returns status and body.
func (f *lookupFed) lookup(i int, body map[string]string) (int, http.Header, map[string]any) {
	f.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", f.c.Nodes[i].URL+"/v1/lookups", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+f.c.Tokens[i])
	resp, err := testClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		f.t.Fatalf("lookup answer: %v", err)
	}
	return resp.StatusCode, resp.Header, out
}

// lookupWhenConnected retries while the node's federation service is not
// running yet (503).
func (f *lookupFed) lookupWhenConnected(i int, body map[string]string) (int, http.Header, map[string]any) {
	f.t.Helper()
	var st int
	var h http.Header
	var out map[string]any
	waitFor(f.t, "a lookup from "+f.c.Configs[i].Province, func() error {
		if st, h, out = f.lookup(i, body); st == http.StatusServiceUnavailable {
			return fmt.Errorf("%d %v", st, out)
		}
		return nil
	})
	return st, h, out
}

// auditOf waits for an audit entry of node i with action and returns all
// of them.
func (f *lookupFed) auditOf(i int, action string, n int) []store.AuditEntry {
	f.t.Helper()
	var got []store.AuditEntry
	waitFor(f.t, fmt.Sprintf("%d %s entries in %s's audit log", n, action, f.c.Configs[i].Province), func() error {
		all, err := f.c.Nodes[i].DB.AuditEntries(context.Background(), 0, 100000)
		if err != nil {
			return err
		}
		got = got[:0]
		for _, e := range all {
			if e.Action == action {
				got = append(got, e)
			}
		}
		if len(got) < n {
			return fmt.Errorf("%d so far", len(got))
		}
		return nil
	})
	return got
}

// wiretap records every message on the lookup and receipt subjects and
// on the visited provinces' reply inboxes, as any member (or the NATS
// operator) could.
type wiretap struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

func tap(t *testing.T, f *lookupFed) *wiretap {
	t.Helper()
	nc, err := nats.Connect(f.c.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	w := &wiretap{}
	for _, s := range []string{"hcfed.demo.*.lookup.>", "hcfed.demo.*.receipts.>", "_INBOX_310000.>", "_INBOX_110000.>"} {
		if _, err := nc.Subscribe(s, func(m *nats.Msg) { w.mu.Lock(); w.msgs = append(w.msgs, m); w.mu.Unlock() }); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return w
}

// waitOn returns what was captured under subjectPrefix once there is
// something: the tap's subscription delivers asynchronously, after the
// HTTP call that caused the traffic may already have returned.
func (w *wiretap) waitOn(t *testing.T, subjectPrefix string) []*nats.Msg {
	t.Helper()
	var got []*nats.Msg
	_ = poll(5*time.Second, 5*time.Millisecond, func() error {
		if got = w.on(subjectPrefix); len(got) == 0 {
			return fmt.Errorf("nothing on %s yet", subjectPrefix)
		}
		return nil
	})
	return got
}

func (w *wiretap) on(subjectPrefix string) []*nats.Msg {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*nats.Msg
	for _, m := range w.msgs {
		if strings.HasPrefix(m.Subject, subjectPrefix) {
			out = append(out, m)
		}
	}
	return out
}

// requireOpaque fails if any message holds one of secrets in clear, or in
// any dot-separated part decoded from base64url (a JWS payload is read
// that way).
func requireOpaque(t *testing.T, what string, msgs []*nats.Msg, secrets ...string) {
	t.Helper()
	if len(msgs) == 0 {
		t.Fatalf("%s: nothing captured: this check checks nothing", what)
	}
	for _, m := range msgs {
		views := [][]byte{m.Data}
		for _, part := range strings.Split(string(m.Data), ".") {
			if b, err := base64.RawURLEncoding.DecodeString(part); err == nil {
				views = append(views, b)
			}
		}
		for _, v := range views {
			for _, s := range secrets {
				if bytes.Contains(v, []byte(s)) {
					t.Fatalf("%s: %q readable in a message on %s", what, s, m.Subject)
				}
			}
		}
	}
}

// request is a fresh request from Shanghai for r's code, with its proof
// of scan, stating body's legal basis and case.
func (f *lookupFed) request(r resident, body map[string]string) trust.LookupRequest {
	f.t.Helper()
	nonce, err := trust.NewNonce(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return trust.LookupRequest{Issuer: "310000", To: "440000", JTI: r.JTI, Proof: proofOf(f.t, r.Code), LegalBasis: body["legal_basis"],
		CaseID: body["case_id"], IssuedAt: f.clock.Now().Unix(), Nonce: nonce}
}

// proofOf is the proof of scan of code.
func proofOf(t *testing.T, code string) string {
	t.Helper()
	p, err := trust.ScanProof(code)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// seal signs any request with s and seals it to enc, without the checks
// of trust.SealLookupRequest.
func seal(t *testing.T, s *trust.StatementSigner, req trust.LookupRequest, enc *ecdsa.PublicKey) []byte {
	t.Helper()
	jws, err := s.Sign(trust.TypLookup, req)
	if err != nil {
		t.Fatal(err)
	}
	e, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: enc},
		(&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := e.Encrypt([]byte(jws))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return []byte(raw)
}

// answerWithin bounds the wait for Guangdong's answer to a request it
// answers: opening, verifying and signing took more than a second on a
// loaded machine with the race detector on. silenceFor is how long a
// request it must not answer is watched for an answer.
const (
	answerWithin = 15 * time.Second
	silenceFor   = time.Second
)

// send puts raw on Shanghai's lookup subject to Guangdong and returns
// Guangdong's signed answer, or nil if none came within answerWithin.
func (f *lookupFed) send(conn *federation.Conn, raw []byte) *trust.LookupAnswer {
	f.t.Helper()
	return f.sendWithin(conn, raw, answerWithin)
}

// sendWithin is send, waiting for the answer at most within.
func (f *lookupFed) sendWithin(conn *federation.Conn, raw []byte, within time.Duration) *trust.LookupAnswer {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var a trust.LookupAnswer
	_, err := conn.RequestLookup(ctx, "440000", raw, func(reply []byte) error {
		return trust.ParseSigned(string(reply), trust.TypLookupAnswer, "440000", f.c.Nodes[gd].Node.State().Keyset("440000").Signing, &a)
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return &a
}

// provinceConn connects to the federation under province's name, as its
// node's NATS user could.
func provinceConn(t *testing.T, f *lookupFed, province string) *federation.Conn {
	t.Helper()
	conn, err := federation.Connect(context.Background(), federation.ConnConfig{URLs: []string{f.c.Server.ClientURL()},
		Federation: "demo", Province: province, Name: "test-" + province})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// detailField reads one string field of an audit entry's detail.
func detailField(t *testing.T, e store.AuditEntry, field string) string {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
		t.Fatalf("audit detail %q: %v", e.Detail, err)
	}
	s, _ := d[field].(string)
	return s
}

// requireNotInFiles fails if any file below dir holds one of secrets.
func requireNotInFiles(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%q in clear in %s", s, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
