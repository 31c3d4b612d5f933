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
	"github.com/hcfed/hcfed/node"
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
		Now: clock.Now, Configure: func(cfg *config.Config) {
			scannerFriendly(cfg)
			cfg.Privacy.Collect = []string{"name", "id_number", "phone"}
		}})
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
		"consent": map[string]any{"notice_version": "2026-11", "accepted": true}}, &e, 201)
	var c struct{ Code, JTI string }
	f.mustCall(i, "POST", "/v1/subjects/"+e.ID+"/codes", e.ResidentToken, nil, &c, 201)
	r.ID, r.Token, r.Code, r.JTI = e.ID, e.ResidentToken, c.Code, c.JTI
	return r
}

// waitPeersReady waits until every node holds every other's keyset with
// its encryption key: lookups need both directions.
func (f *lookupFed) waitPeersReady() {
	f.t.Helper()
	for _, d := range f.c.Nodes {
		for _, other := range f.c.Configs {
			waitFor(f.t, d.Node.Province()+" holding the keyset of "+other.Province, func() error {
				if ks := d.Node.State().Keyset(other.Province); ks == nil || ks.EncKey == nil {
					return errors.New("not yet")
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
	resp, err := http.DefaultClient.Do(req)
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

func TestCrossProvinceLookupGivesTheContactOnlyToTheAskerAndTellsTheResident(t *testing.T) {
	f := startLookupFederation(t)
	w := tap(t, f)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	f.eventually(sh, traveler.Code, "ok")
	f.waitPeersReady()

	// Shanghai's operator looks the red traveler up, stating why.
	st, h, got := f.lookupWhenConnected(sh, map[string]string{"code": traveler.Code, "legal_basis": legalBasis, "case_id": "SH-2026-0042"})
	if st != 200 || got["found"] != true || got["name"] != "黄小明" || got["phone"] != "13912345601" {
		t.Fatalf("lookup: %d %v", st, got)
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	if _, ok := got["id_number"]; ok {
		t.Fatal("the ID number was disclosed")
	}
	exp, err := time.Parse(time.RFC3339Nano, got["expires"].(string))
	if err != nil || exp.Sub(f.clock.Now()) < 29*24*time.Hour || exp.Sub(f.clock.Now()) > 30*24*time.Hour {
		t.Fatalf("expires %v (%v), want 30 days from now", got["expires"], err)
	}
	// On the wire: the request and the answer are sealed.
	requireOpaque(t, "request", w.on("hcfed.demo.310000.lookup."), traveler.JTI, legalBasis, "SH-2026-0042")
	requireOpaque(t, "answer", w.on("_INBOX_310000."), "黄小明", "13912345601")

	// Guangdong recorded whom it told what, why, with no personal data.
	answers := f.auditOf(gd, "lookup.answer", 1)
	a := answers[0]
	if a.Actor != "peer:310000" || a.Target != traveler.ID || !strings.Contains(a.Detail, legalBasis) ||
		!strings.Contains(a.Detail, "SH-2026-0042") || strings.Contains(a.Detail, "13912345601") ||
		strings.Contains(a.Detail, "黄小明") || strings.Contains(a.Detail, traveler.JTI) {
		t.Fatalf("Guangdong's audit entry: %+v", a)
	}
	// Shanghai recorded the request and its outcome, the code id hashed.
	for _, action := range []string{"lookup.request", "lookup.result"} {
		e := f.auditOf(sh, action, 1)[0]
		if e.Actor != "operator" || e.Target == "" || strings.Contains(e.Target+e.Detail, traveler.JTI) ||
			strings.Contains(e.Detail, "13912345601") {
			t.Fatalf("Shanghai's %s entry: %+v", action, e)
		}
	}

	// The resident sees it, and nobody else's token does.
	var seen struct {
		Lookups []node.LookupRecord `json:"lookups"`
	}
	f.mustCall(gd, "GET", "/v1/subjects/"+traveler.ID+"/lookups", traveler.Token, nil, &seen, 200)
	if len(seen.Lookups) != 1 || seen.Lookups[0].Province != "310000" || seen.Lookups[0].LegalBasis != legalBasis ||
		seen.Lookups[0].CaseID != "SH-2026-0042" || strings.Join(seen.Lookups[0].Disclosed, ",") != "name,phone" {
		t.Fatalf("the resident is told %+v", seen.Lookups)
	}
	other := f.enrolWithPhone(gd, "陈丽华", idWithCheck("44030519851212456"), "13912345602")
	f.mustCall(gd, "GET", "/v1/subjects/"+traveler.ID+"/lookups", other.Token, nil, nil, 403)

	// Shanghai holds the contact data sealed, and not in clear anywhere
	// in its database files.
	lookupID := detailField(t, f.auditOf(sh, "lookup.result", 1)[0], "lookup")
	if _, err := f.c.Nodes[sh].DB.Lookup(context.Background(), lookupID); err != nil {
		t.Fatalf("Shanghai's sealed copy: %v", err)
	}
	requireNotInFiles(t, filepath.Dir(f.c.Configs[sh].DBPath()), "黄小明", "13912345601")

	// A code whose holder deleted their record names nobody.
	f.mustCall(gd, "DELETE", "/v1/subjects/"+other.ID, other.Token, nil, nil, 204)
	if st, _, got := f.lookup(sh, map[string]string{"iss": "440000", "jti": other.JTI, "legal_basis": legalBasis, "case_id": "SH-2026-0043"}); st != 200 || got["found"] != false || got["name"] != nil {
		t.Fatalf("lookup of a deleted resident: %d %v", st, got)
	}

	// After the case retention the contact data is gone from Shanghai.
	f.clock.Advance(f.c.Configs[sh].Privacy.Retention.Lookups + time.Minute)
	r, err := f.c.Nodes[sh].Node.Retain(context.Background())
	if err != nil || r.Lookups != 1 {
		t.Fatalf("retention: %+v, %v", r, err)
	}
	if _, err := f.c.Nodes[sh].DB.Lookup(context.Background(), lookupID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("contact data after its retention: %v", err)
	}
}

// TestCrossProvinceLookupRefusals sends requests that must not be
// answered with contact data, each with its signed refusal or its silence
// checked, and Guangdong's audit entry for each.
func TestCrossProvinceLookupRefusals(t *testing.T) {
	f := startLookupFederation(t)
	w := tap(t, f)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	f.waitPeersReady()
	good := map[string]string{"iss": "440000", "jti": traveler.JTI, "legal_basis": legalBasis, "case_id": "SH-1"}
	if st, _, got := f.lookupWhenConnected(sh, good); st != 200 || got["found"] != true {
		t.Fatalf("lookup: %d %v", st, got)
	}
	asSH := provinceConn(t, f, "310000")
	gdEnc := f.c.Nodes[sh].Node.State().Keyset("440000").EncKey

	// Replayed: the request captured on the wire, sent again.
	sent := w.on("hcfed.demo.310000.lookup.440000")
	if len(sent) != 1 {
		t.Fatalf("%d requests captured", len(sent))
	}
	if ans := f.send(asSH, sent[0].Data); ans == nil || ans.Refused != trust.ReasonReplayed || ans.Found {
		t.Fatalf("replayed request answered %+v", ans)
	}
	// Signed by Beijing's key in Shanghai's name.
	req := f.request(good)
	if ans := f.send(asSH, seal(t, f.c.Nodes[bj].Node.Signer(), req, gdEnc)); ans != nil {
		t.Fatalf("request signed by the wrong province's key answered %+v", ans)
	}
	// Without legal basis: the asking node refuses to send it...
	noBasis := map[string]string{"iss": "440000", "jti": traveler.JTI, "case_id": "SH-1"}
	if st, _, got := f.lookup(sh, noBasis); st != 400 {
		t.Fatalf("lookup without legal basis: %d %v", st, got)
	}
	// ...and the home node refuses it when sent anyway.
	req = f.request(good)
	req.LegalBasis = ""
	if ans := f.send(asSH, seal(t, f.c.Nodes[sh].Node.Signer(), req, gdEnc)); ans == nil || ans.Refused != trust.ReasonNoLegalBasis {
		t.Fatalf("request without legal basis answered %+v", ans)
	}
	refusals := f.auditOf(gd, "lookup.refuse", 3)
	for i, want := range []trust.Reason{trust.ReasonReplayed, trust.ReasonWrongSigner, trust.ReasonNoLegalBasis} {
		if got := detailField(t, refusals[i], "reason"); got != string(want) || refusals[i].Actor != "peer:310000" {
			t.Errorf("refusal %d: %+v, want reason %s", i, refusals[i], want)
		}
	}

	// Beijing asks far too often: the rate limit stops it, and says so.
	var limited int
	for i := 0; i < 40 && limited == 0; i++ {
		st, _, got := f.lookupWhenConnected(bj, good)
		switch st {
		case 200:
		case http.StatusTooManyRequests:
			limited = i
		default:
			t.Fatalf("lookup %d from Beijing: %d %v", i, st, got)
		}
	}
	if limited < 25 {
		t.Fatalf("Beijing rate-limited after %d lookups", limited)
	}

	// Shanghai suspended: refused, signed.
	ops := f.c.Operators
	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "suspend", ID: "310000"}), ops[0], ops[1]))
	f.waitVersion(2)
	if st, _, got := f.lookup(sh, good); st != http.StatusForbidden {
		t.Fatalf("lookup by a suspended member: %d %v", st, got)
	}
	// Shanghai removed: Guangdong drops its keys and cannot even verify.
	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "remove", ID: "310000"}), ops[0], ops[1]))
	f.waitVersion(3)
	if ans := f.send(asSH, seal(t, f.c.Nodes[sh].Node.Signer(), f.request(good), gdEnc)); ans != nil {
		t.Fatalf("request from a removed member answered %+v", ans)
	}
	refusals = f.auditOf(gd, "lookup.refuse", 5)
	if r := detailField(t, refusals[3], "reason"); r != string(trust.ReasonNotMember) {
		t.Errorf("suspended member: refusal %+v", refusals[3])
	}
	if r := detailField(t, refusals[4], "reason"); r != string(trust.ReasonUnknownIssuer) {
		t.Errorf("removed member: refusal %+v", refusals[4])
	}
	if got := len(f.auditOf(gd, "lookup.answer", 1)); got != 1+limited {
		t.Errorf("%d answers in Guangdong's audit log, want %d", got, 1+limited)
	}
}

// request is a fresh request from Shanghai for the code in body.
func (f *lookupFed) request(body map[string]string) trust.LookupRequest {
	f.t.Helper()
	nonce, err := trust.NewNonce(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return trust.LookupRequest{Issuer: "310000", To: "440000", JTI: body["jti"], LegalBasis: body["legal_basis"],
		CaseID: body["case_id"], IssuedAt: f.clock.Now().Unix(), Nonce: nonce}
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

// send puts raw on Shanghai's lookup subject to Guangdong and returns
// Guangdong's signed answer, or nil if none came within a second.
func (f *lookupFed) send(conn *federation.Conn, raw []byte) *trust.LookupAnswer {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
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

// TestVerificationInAnotherProvinceReachesTheResident is the cross-province
// right to know: Shanghai's scanner verifies a Guangdong code, Shanghai
// sends Guangdong a sealed receipt, and Guangdong lists it for its
// resident — province, kind of place and time, no scanner.
func TestVerificationInAnotherProvinceReachesTheResident(t *testing.T) {
	f := startLookupFederation(t)
	w := tap(t, f)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	f.waitPeersReady()
	f.eventually(sh, traveler.Code, "ok")
	var got []node.VerificationRecord
	waitFor(t, "Shanghai's verification in Guangdong", func() error {
		var err error
		got, err = f.c.Nodes[gd].Node.ForeignVerifications(context.Background(), node.Principal{Role: node.RoleResident, SubjectID: traveler.ID}, traveler.ID)
		if err != nil {
			return err
		}
		if len(got) == 0 {
			f.verify(sh, traveler.Code) // a receipt sent before the service started is not retried
			return errors.New("none yet")
		}
		return nil
	})
	v := got[0]
	if v.Province != "310000" || v.Place != "checkpoint" || v.JTI != traveler.JTI || !v.Valid ||
		f.clock.Now().Sub(v.Time) > time.Minute {
		t.Fatalf("Guangdong tells its resident %+v", v)
	}
	e := f.auditOf(gd, "code.verify.peer", 1)[0]
	if e.Actor != "peer:310000" || strings.Contains(e.Detail, "sc_") || strings.Contains(e.Detail+e.Target, traveler.JTI) {
		t.Fatalf("Guangdong's audit entry: %+v", e)
	}
	requireOpaque(t, "receipt", w.on("hcfed.demo.310000.receipts.440000"), traveler.JTI, "checkpoint")
	if _, err := f.c.Nodes[gd].Node.ForeignVerifications(context.Background(), node.Principal{Role: node.RoleResident, SubjectID: "s_other"}, traveler.ID); err == nil {
		t.Fatal("another resident read the verifications")
	}
}
