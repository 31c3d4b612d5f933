package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// idWithCheck completes 17 digits with their GB 11643 check character.
func idWithCheck(base string) string {
	for _, c := range "0123456789X" {
		if id := base + string(c); node.ValidIDNumber(id) {
			return id
		}
	}
	panic("no check character for " + base)
}

type person struct{ name, id, phone string }

// TestNoPlaintextPersonalDataAnywhereInTheFederation runs every route that
// touches personal data in a three-province federation — enrolment with
// name, ID number and phone, codes, QR, paper codes, verification in every
// province, status changes, appeals whose text names the resident, the
// right-to-know views, deletion — then stops everything and searches every
// file the federation wrote (each node's node.db, keys.db and their WALs,
// the NATS JetStream store with its KV buckets, streams and object store)
// and every log line for the residents' names, ID numbers and phone
// numbers: none may appear.
func TestNoPlaintextPersonalDataAnywhereInTheFederation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logs := &syncBuffer{}
	c, closeAll := startSearchedFederation(t, daemon.ClusterConfig{Dir: dir, Configure: func(cfg *config.Config) {
		cfg.Privacy.Collect = []string{"name", "id_number", "phone"}
		cfg.Limits.ScannerRate, cfg.Limits.ScannerBurst = 1000, 1000
	}}, logs)
	f := &fedTest{t: t, c: c}
	for i, d := range c.Nodes {
		sc, err := d.Node.AddScanner(context.Background(), node.Principal{Role: node.RoleOperator}, "gate", []string{"station", "checkpoint", "workplace"}[i])
		if err != nil {
			t.Fatal(err)
		}
		f.scanners = append(f.scanners, sc.Token)
	}
	people := map[int][2]person{
		0: {{"黄小明", idWithCheck("44010619900101123"), "13912345601"}, {"陈丽华", idWithCheck("44030519851212456"), "13912345602"}},
		1: {{"周建国", idWithCheck("31011519700707789"), "13912345603"}, {"吴晓燕", idWithCheck("31010119950505234"), "13912345604"}},
		2: {{"赵德胜", idWithCheck("11010519491231567"), "13912345605"}, {"钱美玲", idWithCheck("11010820000229890"), "13912345606"}},
	}
	var secrets []string
	for i := range c.Nodes {
		for _, p := range people[i] {
			secrets = append(secrets, p.name, p.id, p.phone)
		}
		exerciseProvince(f, i, people[i])
	}

	if err := closeAll(); err != nil {
		t.Fatalf("close: %v", err)
	}
	searched := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		searched[filepath.Base(path)] = true
		if strings.Contains(rel, "jetstream") {
			searched["jetstream"] = true
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%q found in clear in %s", s, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"node.db", "keys.db", "jetstream"} {
		if !searched[want] {
			t.Errorf("no %s file was searched: this test checks less than it says", want)
		}
	}
	l := []byte(logs.String())
	if len(l) == 0 {
		t.Fatal("no logs captured: the log check checked nothing")
	}
	for _, s := range secrets {
		if bytes.Contains(l, []byte(s)) {
			t.Errorf("%q found in clear in the logs", s)
		}
	}
}

// startSearchedFederation starts three provinces with cc (its Dir, for
// the test to search later), logging at debug level into logs, and
// returns the cluster and the Close the test calls before its search; the
// test's end closes the cluster only if that was not called.
func startSearchedFederation(t *testing.T, cc daemon.ClusterConfig, logs *syncBuffer) (*daemon.Cluster, func() error) {
	t.Helper()
	cc.Provinces = threeProvinces
	cc.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := daemon.StartCluster(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			c.Close()
		}
	})
	return c, func() error { closed = true; return c.Close() }
}

// exerciseProvince runs every route touching personal data on province i
// for two residents: a keeps their record, b is deleted at the end.
func exerciseProvince(f *fedTest, i int, p [2]person) {
	f.t.Helper()
	op := f.c.Tokens[i]
	var ids [2]struct {
		ID            string `json:"id"`
		ResidentToken string `json:"resident_token"`
	}
	for k, r := range p {
		if st := f.call(i, "POST", "/v1/subjects", op, map[string]any{"name": r.name, "id_number": r.id, "phone": r.phone,
			"consent": map[string]any{"notice_version": config.NoticeVersion, "accepted": true}}, &ids[k]); st != 201 {
			f.t.Fatalf("enrol: %d", st)
		}
	}
	a, b := ids[0], ids[1]
	var phone, paper struct{ Code, JTI, QRURL string }
	f.mustCall(i, "POST", "/v1/subjects/"+a.ID+"/codes", a.ResidentToken, nil, &phone, 201)
	f.mustCall(i, "POST", "/v1/subjects/"+a.ID+"/codes", op, map[string]bool{"paper": true}, &paper, 201)
	f.mustGet(i, "/v1/codes/"+phone.JTI+"/qr.png", a.ResidentToken)
	f.mustGet(i, "/v1/codes/"+paper.JTI+"/paper.png", op)
	for j := range f.c.Nodes {
		f.eventually(j, phone.Code, "ok")
		f.eventually(j, paper.Code, "ok")
	}
	f.mustGet(i, "/v1/subjects/"+a.ID, a.ResidentToken)
	f.mustGet(i, "/v1/subjects/"+a.ID, op)
	f.mustGet(i, "/v1/subjects/"+a.ID+"/verifications", a.ResidentToken)

	var ap struct{ ID string }
	msg := fmt.Sprintf("我是%s，身份证%s，电话%s，我的状态不对", p[0].name, p[0].id, p[0].phone)
	f.mustCall(i, "POST", "/v1/appeals", a.ResidentToken, map[string]string{"message": msg}, &ap, 201)
	f.mustGet(i, "/v1/appeals", op)
	f.mustCall(i, "PUT", "/v1/appeals/"+ap.ID, op, map[string]string{"outcome": "upheld", "status": "yellow",
		"note": "已核实" + p[0].name + "的情况"}, nil, 200)
	f.mustGet(i, "/v1/subjects/"+a.ID+"/appeals", a.ResidentToken)
	for j := range f.c.Nodes {
		f.eventually(j, phone.Code, "revoked")
	}

	var bc struct{ Code string }
	f.mustCall(i, "POST", "/v1/subjects/"+b.ID+"/codes", b.ResidentToken, nil, &bc, 201)
	f.eventually((i+1)%len(f.c.Nodes), bc.Code, "ok")
	f.setStatus(i, b.ID, "red")
	// A red resident's own deletion waits (status_held); an operator's does not.
	f.mustCall(i, "DELETE", "/v1/subjects/"+b.ID, b.ResidentToken, nil, nil, 409)
	f.mustCall(i, "DELETE", "/v1/subjects/"+b.ID, op, nil, nil, 204)
	for j := range f.c.Nodes {
		f.eventually(j, bc.Code, "revoked")
	}
}

// mustCall makes a request and fails unless it answers want.
func (f *fedTest) mustCall(i int, method, path, token string, body, out any, want int) {
	f.t.Helper()
	if st := f.call(i, method, path, token, body, out); st != want {
		f.t.Fatalf("%s %s: %d, want %d", method, path, st, want)
	}
}

// mustGet fetches path (any content type) and fails unless it is 200.
func (f *fedTest) mustGet(i int, path, token string) {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.c.Nodes[i].URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := testClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		f.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
}
