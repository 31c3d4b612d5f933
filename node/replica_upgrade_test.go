package node_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// replicaCall sends a replica's request to d over HTTP, with the headers
// given, and returns the status and the body.
func replicaCall(t *testing.T, d *daemon.Daemon, method, path, token string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, d.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// grandfatheredReplica starts a node with one replica, r1, whose enc key
// the previous build registered before the upgrade; migration 0022 kept
// it as the grandfathered one (its UPDATE, done here by hand). It returns
// the node, the replica as added and its keys.
func grandfatheredReplica(t *testing.T) (*daemon.Daemon, node.NewReplica, replicaKeys) {
	t.Helper()
	d := startNode(t)
	added := addedReplica(t, d.Node, "r1")
	keys := newReplicaKeys(t)
	if _, err := rawDB(t, d).Exec(`UPDATE replicas SET enc_key = ?1, prior_enc_key = ?1 WHERE id = ?2`,
		string(keys.encJWK), added.ID); err != nil {
		t.Fatal(err)
	}
	return d, added, keys
}

// authenticatedReplica is the replica whose token is token.
func authenticatedReplica(t *testing.T, rs *node.Replicas, token string) node.ReplicaPrincipal {
	t.Helper()
	rp, err := rs.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// A rolling upgrade used to take replicas out of service: home refused
// the registration and the refreshes of a replica of the build before
// fingerprints, and an upgraded replica until an admin confirmed it. The
// enc key home held before migration 0022 is now trusted for scanners and
// content keys (sealed to it: only the replica that made it opens them),
// for the old build and for the same replica upgraded; records wait for
// the confirmed signing key; a new enc key is confirmed as before.
func TestReplicaUpgradeKeepsAGrandfatheredEncKeyServing(t *testing.T) {
	d, added, own := grandfatheredReplica(t)
	n := d.Node
	ctx := context.Background()
	rs, adm := n.Replicas(), admin(t, n)
	sync := func(what string, want int) string {
		t.Helper()
		st, body := replicaCall(t, d, "GET", "/v1/replica/sync", added.Token, nil, nil)
		if st != want {
			t.Fatalf("%s: sync %d %s, want %d", what, st, body, want)
		}
		return body
	}
	opens := func(what, body string) {
		t.Helper()
		var s node.ReplicaSync
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		if _, err := trust.OpenContentKeys(s.ContentKeys, own.enc); err != nil {
			t.Fatalf("%s: the content keys do not open with the replica's enc key: %v", what, err)
		}
	}
	sc, err := n.AddScanner(ctx, operator, "gate 1", "station")
	if err != nil {
		t.Fatal(err)
	}
	p := node.Principal{Role: node.RoleScanner, ScannerID: sc.ID, Place: "station"}
	records := func(id string) []byte {
		b, err := json.Marshal(map[string]any{"records": []node.ReplicaRecord{node.NewReplicaRecord(id, p, n.Province(), "",
			trust.Result{Reason: trust.ReasonOK, Issuer: "110000", JTI: "jti-" + id}, n.Now())}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wantRefused := func(what string, st int, body string, code node.ErrorCode) {
		t.Helper()
		if st != http.StatusForbidden || !strings.Contains(body, `"`+string(code)+`"`) {
			t.Fatalf("%s: %d %s, want 403 %s", what, st, body, code)
		}
	}

	// The replica of the previous build, under the upgraded home: its
	// registration (enc key only, as it sends it) and its refreshes are
	// taken; its unsigned records wait.
	st, body := replicaCall(t, d, "POST", "/v1/replica/register", added.Token, []byte(`{"enc_key":`+string(own.encJWK)+`}`), nil)
	if st != http.StatusOK || !strings.Contains(body, `"grandfathered":true`) || !strings.Contains(body, `"trusted":false`) {
		t.Fatalf("the previous build's registration: %d %s", st, body)
	}
	opens("the previous build", sync("the previous build", http.StatusOK))
	st, body = replicaCall(t, d, "POST", "/v1/replica/records", added.Token, records("r1"), nil)
	wantRefused("the previous build's unsigned records", st, body, node.EReplicaSignature)
	l, err := rs.List(ctx, operator)
	if err != nil || len(l) != 1 || l[0].Trusted || !l[0].Grandfathered || !strings.Contains(l[0].Pending, "hcnode replica confirm r1") {
		t.Fatalf("list while grandfathered: %+v %v", l, err)
	}

	// Upgraded: the same enc key with a signing key of its own. It
	// keeps serving; its signed records wait until the fingerprint is
	// confirmed.
	reg, _ := json.Marshal(map[string]json.RawMessage{"enc_key": own.encJWK, "sig_key": own.sigJWK})
	st, body = replicaCall(t, d, "POST", "/v1/replica/register", added.Token, reg, nil)
	if st != http.StatusOK || !strings.Contains(body, `"grandfathered":true`) || !strings.Contains(body, own.fp) {
		t.Fatalf("the upgraded replica's registration: %d %s", st, body)
	}
	opens("the upgraded replica", sync("the upgraded replica", http.StatusOK))
	signed := func(id string) (int, string) {
		b := records(id)
		sig, err := trust.SignReplicaRecords(own.sig, b)
		if err != nil {
			t.Fatal(err)
		}
		return replicaCall(t, d, "POST", "/v1/replica/records", added.Token, b, map[string]string{node.ReplicaSignatureHeader: sig})
	}
	st, body = signed("r2")
	wantRefused("signed records before the confirmation", st, body, node.EReplicaSignature)
	if !strings.Contains(body, "held at the replica") {
		t.Errorf("the refusal does not say the records are held: %s", body)
	}
	if info, err := rs.Confirm(ctx, adm, "r1", own.fp); err != nil || !info.Trusted || info.Grandfathered {
		t.Fatalf("confirm: %+v %v", info, err)
	}
	if st, body = signed("r2"); st != http.StatusOK {
		t.Fatalf("signed records once confirmed: %d %s", st, body)
	}
	opens("the confirmed replica", sync("the confirmed replica", http.StatusOK))
}

// The enc key home held before the upgrade is the only one
// grandfathered: another (a replica whose data directory was lost, or a
// token's thief) needs a confirmation as before, whether registered
// alone or with a signing key, and does not take the grandfathered one's
// place; and a replica added since has none.
func TestReplicaUpgradeGrandfathersNoOtherEncKey(t *testing.T) {
	d, added, held := grandfatheredReplica(t)
	n := d.Node
	ctx := context.Background()
	rs, adm := n.Replicas(), admin(t, n)
	rp := authenticatedReplica(t, rs, added.Token)
	thief := newReplicaKeys(t)
	_, err := rs.Register(ctx, rp, thief.encJWK, nil)
	wantReplicaCode(t, "another enc key alone", err, node.EInvalid)
	st, err := rs.Register(ctx, rp, thief.encJWK, thief.sigJWK)
	if err != nil || st.Trusted || st.Grandfathered {
		t.Fatalf("another enc key with a signing key: %+v %v; want neither trusted nor grandfathered", st, err)
	}
	sealedTo := func(what string, enc, not *ecdsa.PrivateKey) {
		t.Helper()
		s, _, err := rs.Sync(ctx, rp, "")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, err := trust.OpenContentKeys(s.ContentKeys, enc); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, err := trust.OpenContentKeys(s.ContentKeys, not); err == nil {
			t.Fatalf("%s: the content keys open with the other key", what)
		}
	}
	sealedTo("a sync once another enc key is registered", held.enc, thief.enc)

	// The replica (of the previous build) registers its own again at its
	// next start: grandfathered still.
	if st, err := rs.Register(ctx, rp, held.encJWK, nil); err != nil || !st.Grandfathered || st.Fingerprint != "" {
		t.Fatalf("the held enc key again: %+v %v", st, err)
	}
	sealedTo("a sync of the previous build", held.enc, thief.enc)

	// A replica added after the upgrade has nothing grandfathered.
	added2, err := rs.Add(ctx, adm, "r2")
	if err != nil {
		t.Fatal(err)
	}
	rp2, err := rs.Authenticate(ctx, added2.Token)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rs.Register(ctx, rp2, thief.encJWK, nil)
	wantReplicaCode(t, "a new replica's enc key alone", err, node.EInvalid)

	// A confirmation ends the grandfathering: the old enc key alone is
	// no longer enough once other keys are confirmed (here, those
	// registered, trusted at once).
	if info, err := rs.Confirm(ctx, adm, "r1", thief.fp); err != nil || !info.Trusted {
		t.Fatalf("confirm: %+v %v", info, err)
	}
	_, err = rs.Register(ctx, rp, held.encJWK, nil)
	wantReplicaCode(t, "the held enc key once another fingerprint is confirmed", err, node.EInvalid)
	sealedTo("a sync once another fingerprint is confirmed", thief.enc, held.enc)
}
