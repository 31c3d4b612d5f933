package node_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/trust"
)

// testReplica is a replica's side in these tests: who home says it is,
// and its keys.
type testReplica struct {
	node.ReplicaPrincipal
	keys replicaKeys
}

// registeredReplica adds the replica name to n, registers new keys of
// it, as a replica's first start does, and has an admin confirm their
// fingerprint, as an operator does with 'hcnode replica confirm'.
func registeredReplica(t *testing.T, n *node.Node, name string) testReplica {
	t.Helper()
	ctx := context.Background()
	rs := n.Replicas()
	rp, err := rs.Authenticate(ctx, addedReplica(t, n, name).Token)
	if err != nil {
		t.Fatal(err)
	}
	keys := newReplicaKeys(t)
	if _, err := rs.Register(ctx, rp, keys.encJWK, keys.sigJWK); err != nil {
		t.Fatal(err)
	}
	if info, err := rs.Confirm(ctx, admin(t, n), name, keys.fp); err != nil || !info.Trusted {
		t.Fatalf("confirm %s: %+v %v", name, info, err)
	}
	return testReplica{ReplicaPrincipal: rp, keys: keys}
}

// addedReplica adds a replica named name to n, as an admin.
func addedReplica(t *testing.T, n *node.Node, name string) node.NewReplica {
	t.Helper()
	added, err := n.Replicas().Add(context.Background(), admin(t, n), name)
	if err != nil {
		t.Fatal(err)
	}
	return added
}

// replicaKeys are a replica's enc and signing keys, their public JWKs
// and their fingerprint.
type replicaKeys struct {
	enc, sig       *ecdsa.PrivateKey
	encJWK, sigJWK json.RawMessage
	fp             string
}

func newReplicaKeys(t *testing.T) replicaKeys {
	t.Helper()
	var k replicaKeys
	k.enc, k.encJWK = newEncJWK(t)
	var err error
	if k.sig, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if k.sigJWK, err = trust.SigJWK(&k.sig.PublicKey); err != nil {
		t.Fatal(err)
	}
	if k.fp, err = trust.ReplicaFingerprint(&k.enc.PublicKey, &k.sig.PublicKey); err != nil {
		t.Fatal(err)
	}
	return k
}

// sendRecords sends recs for rp as a replica does: the body signed with
// sig.
func sendRecords(t *testing.T, n *node.Node, rp node.ReplicaPrincipal, sig *ecdsa.PrivateKey, recs []node.ReplicaRecord) (int, error) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"records": recs})
	if err != nil {
		t.Fatal(err)
	}
	s, err := trust.SignReplicaRecords(sig, body)
	if err != nil {
		t.Fatal(err)
	}
	return n.Replicas().AcceptRecords(context.Background(), rp, body, s)
}

// newEncJWK makes a replica enc key and its public JWK.
func newEncJWK(t *testing.T) (*ecdsa.PrivateKey, json.RawMessage) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := trust.EncJWK(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, jwk
}

func wantReplicaCode(t *testing.T, what string, err error, code node.ErrorCode) {
	t.Helper()
	var e *node.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

// A replica's confirmed keys are kept; its sync carries the scanners'
// token hashes and the node's content keys sealed to its enc key;
// removing it refuses its token at once.
func TestReplicaKeepsItsConfirmedKeysAndIsRefusedOnceRemoved(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	rs, adm := n.Replicas(), admin(t, n)
	added := addedReplica(t, n, "r1")
	_, err := rs.Add(ctx, adm, "R1")
	wantReplicaCode(t, "a second replica named R1", err, node.EConflict)
	rp, err := rs.Authenticate(ctx, added.Token)
	if err != nil || rp.Name != "r1" {
		t.Fatalf("authenticate: %+v %v", rp, err)
	}
	_, _, err = rs.Sync(ctx, rp, "")
	wantReplicaCode(t, "sync before registering a key", err, node.EReplicaUnconfirmed)
	keys := newReplicaKeys(t)
	key := keys.enc
	if _, err := rs.Register(ctx, rp, keys.encJWK, keys.sigJWK); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Confirm(ctx, adm, "r1", keys.fp); err != nil {
		t.Fatal(err)
	}
	if st, err := rs.Register(ctx, rp, keys.encJWK, keys.sigJWK); err != nil || !st.Trusted {
		t.Fatalf("registering the same keys again: %+v %v", st, err)
	}
	other := newReplicaKeys(t)
	_, err = rs.Register(ctx, rp, other.encJWK, other.sigJWK)
	wantReplicaCode(t, "registering other keys", err, node.EConflict)
	_, err = rs.Register(ctx, rp, keys.encJWK, keys.encJWK)
	wantReplicaCode(t, "one key for both uses", err, node.EInvalid)
	// A replica of an older build (rolled back) registers its enc key
	// alone: taken for the trusted one, keeping the confirmed keys; any
	// other is refused.
	if st, err := rs.Register(ctx, rp, keys.encJWK, nil); err != nil || !st.Trusted || st.Fingerprint != keys.fp {
		t.Fatalf("the trusted enc key alone: %+v %v", st, err)
	}
	_, err = rs.Register(ctx, rp, other.encJWK, nil)
	wantReplicaCode(t, "another enc key alone (a replica of an older build)", err, node.EInvalid)

	sc, err := n.AddScanner(ctx, operator, "gate", "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := rs.Sync(ctx, rp, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Scanners) != 1 || s.Scanners[0].ID != sc.ID || s.Scanners[0].TokenHash != node.ScannerTokenHash(sc.Token) {
		t.Fatalf("sync scanners %+v, want the one scanner by its token hash", s.Scanners)
	}
	cks, err := trust.OpenContentKeys(s.ContentKeys, key)
	if err != nil || len(cks) == 0 {
		t.Fatalf("content keys: %d, %v", len(cks), err)
	}

	if err := rs.Remove(ctx, adm, "r1"); err != nil {
		t.Fatal(err)
	}
	_, err = rs.Authenticate(ctx, added.Token)
	wantReplicaCode(t, "a removed replica's token", err, node.EUnauthorized)
	wantReplicaCode(t, "removing it again", rs.Remove(ctx, adm, "r1"), node.ENotFound)
}

// Records a replica sends are appended to the audit log once each, even
// when the batch is sent again, and refused when malformed.
func TestReplicaRecordsAreAuditedOnceEvenWhenSentAgain(t *testing.T) {
	d := startNode(t)
	n := d.Node
	ctx := context.Background()
	r1 := registeredReplica(t, n, "r1")
	rp := r1.ReplicaPrincipal
	accept := func(recs []node.ReplicaRecord) (int, error) { return sendRecords(t, n, rp, r1.keys.sig, recs) }
	now := n.Now()
	sc, err := n.AddScanner(ctx, operator, "gate 1", "station")
	if err != nil {
		t.Fatal(err)
	}
	p := node.Principal{Role: node.RoleScanner, ScannerID: sc.ID, Place: "station"}
	recs := []node.ReplicaRecord{
		node.NewReplicaRecord("id1", p, n.Province(), "", trust.Result{Reason: trust.ReasonOK, Issuer: "110000", JTI: "jti1"}, now),
		node.NewReplicaRecord("id2", p, n.Province(), "", trust.Result{Reason: trust.ReasonBadSignature, Issuer: "110000", JTI: "jti2"}, now),
	}
	if recs[1].JTI != "" {
		t.Fatal("a record of a code whose signature failed keeps its code id")
	}
	countVerifies := func() int {
		es, err := d.DB.AuditEntries(ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		c := 0
		for _, e := range es {
			if e.Action == "code.verify" && e.Actor == "scanner:"+sc.ID {
				c++
			}
		}
		return c
	}
	for round, want := range []int{2, 0} {
		got, err := accept(recs)
		if err != nil || got != want {
			t.Fatalf("round %d: accepted %d, %v; want %d", round, got, err, want)
		}
	}
	if c := countVerifies(); c != 2 {
		t.Fatalf("%d audit entries after sending the batch twice, want 2", c)
	}
	// A scanner the replica made up is refused; a place of its own is
	// replaced by the scanner's registered one.
	forged := node.NewReplicaRecord("id5", node.Principal{Role: node.RoleScanner, ScannerID: "sc_madeup", Place: "station"}, n.Province(), "",
		trust.Result{Reason: trust.ReasonOK, Issuer: "110000"}, now)
	_, err = accept([]node.ReplicaRecord{forged})
	wantReplicaCode(t, "a record of a scanner not registered here", err, node.EInvalid)
	elsewhere := node.NewReplicaRecord("id6", node.Principal{Role: node.RoleScanner, ScannerID: sc.ID, Place: "Zhang San's flat"}, n.Province(), "",
		trust.Result{Reason: trust.ReasonOK, Issuer: "110000"}, now)
	if got, err := accept([]node.ReplicaRecord{elsewhere}); err != nil || got != 1 {
		t.Fatalf("a record with a place of its own: %d, %v", got, err)
	}
	es, err := d.DB.AuditEntries(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.Contains(e.Detail, "flat") {
			t.Errorf("the audit log took the replica's place: %s", e.Detail)
		}
	}
	bad := recs[0]
	bad.ID, bad.Time = "id3", now.Add(time.Hour)
	_, err = accept([]node.ReplicaRecord{bad})
	wantReplicaCode(t, "a record from the future", err, node.EInvalid)
	bad.Time, bad.Reason = now, trust.ReasonBadSignature
	_, err = accept([]node.ReplicaRecord{bad})
	wantReplicaCode(t, "a code id with an unchecked signature", err, node.EInvalid)
	// A proof of scan comes only with a code id, of another province, in
	// the form of one.
	proof := strings.Repeat("A", 43)
	for _, tc := range []struct {
		what        string
		iss, jti, p string
	}{
		{"a proof of scan without a code id", "110000", "", proof},
		{"a proof of scan of this province's code", n.Province(), "jti7", proof},
		{"a proof of scan of the wrong length", "110000", "jti7", proof + "A"},
	} {
		bad := node.ReplicaRecord{ID: "id7", Time: now, ScannerID: sc.ID, Issuer: tc.iss, JTI: tc.jti, Reason: trust.ReasonOK, Proof: tc.p}
		_, err = accept([]node.ReplicaRecord{bad})
		wantReplicaCode(t, tc.what, err, node.EInvalid)
	}
	// The reason becomes a label of hcfed_verifications_total on a public
	// /metrics: only the reasons trust.Verify gives a code are taken, so
	// that a replica can neither grow the label set without bound nor
	// write words of its own (a name in pinyin) into it.
	for _, r := range []trust.Reason{"zhang_san", trust.ReasonRollback} {
		bad.ID, bad.JTI, bad.Reason = "id4", "", r
		_, err = accept([]node.ReplicaRecord{bad})
		wantReplicaCode(t, "a record with reason "+string(r), err, node.EInvalid)
	}
}

// A refresh that sends back the tag of a sync nothing has changed since
// is answered unchanged, with nothing read or sealed; adding or removing
// a scanner, or rotating the node's keys, changes the tag.
func TestReplicaSyncUnchangedUntilTheScannersOrKeysChange(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	rs := n.Replicas()
	rp := registeredReplica(t, n, "r1").ReplicaPrincipal
	tag := ""
	sync := func(what string, wantUnchanged bool, wantScanners int) {
		t.Helper()
		s, unchanged, err := rs.Sync(ctx, rp, tag)
		if err != nil || unchanged != wantUnchanged || s.Tag == "" || (unchanged && s.Tag != tag) {
			t.Fatalf("%s: unchanged %v, tag %q (sent %q), %v; want unchanged %v", what, unchanged, s.Tag, tag, err, wantUnchanged)
		}
		if !unchanged && len(s.Scanners) != wantScanners {
			t.Fatalf("%s: %d scanners, want %d", what, len(s.Scanners), wantScanners)
		}
		if unchanged && (s.Scanners != nil || s.ContentKeys != "") {
			t.Fatalf("%s: an unchanged sync carries %+v", what, s)
		}
		tag = s.Tag
	}
	sync("the first sync", false, 0)
	sync("again", true, 0)
	sc, err := n.AddScanner(ctx, operator, "gate", "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	sync("a scanner added", false, 1)
	sync("again", true, 0)
	if err := n.RemoveScanner(ctx, operator, sc.ID); err != nil {
		t.Fatal(err)
	}
	sync("the scanner removed", false, 0)
	sync("again", true, 0)
	if err := n.RotateKeys(ctx, admin(t, n)); err != nil {
		t.Fatal(err)
	}
	sync("the keys rotated", false, 0)
}

// Home writes a replica's last_seen at most once a minute: a replica
// asks every replica.refresh (2 s), mostly to hear 304, and every write
// is a transaction on the home's one writer. last_seen, read back from
// the database after each refresh, moves once in the first minute and
// once when it has passed.
func TestReplicaSyncWritesLastSeenAtMostOnceAMinute(t *testing.T) {
	clock := &testClock{now: time.Now()}
	n := startNodeAt(t, clock).Node
	ctx := context.Background()
	rs := n.Replicas()
	rp := registeredReplica(t, n, "r1").ReplicaPrincipal
	lastSeen := func() time.Time {
		t.Helper()
		l, err := rs.List(ctx, operator)
		if err != nil || len(l) != 1 {
			t.Fatalf("list: %+v %v", l, err)
		}
		return l[0].LastSeen
	}
	var writes []time.Time
	seen, tag := lastSeen(), "" // written by Register
	clock.Add(time.Second)
	for i := range 40 { // 78 s of refreshes, 2 s apart
		if i > 0 {
			clock.Add(2 * time.Second)
		}
		s, _, err := rs.Sync(ctx, rp, tag)
		if err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
		tag = s.Tag
		if now := lastSeen(); !now.Equal(seen) {
			writes = append(writes, now)
			seen = now
		}
	}
	first := clock.Now().Add(-78 * time.Second)
	if len(writes) != 2 || !writes[0].Equal(first) || writes[1].Sub(writes[0]) != time.Minute {
		t.Fatalf("last_seen written at %v over 40 refreshes in 78 s from %v; want twice, at 0 s and 60 s", writes, first)
	}
	// A removed replica's sync is refused, written or not.
	if err := rs.Remove(ctx, admin(t, n), "r1"); err != nil {
		t.Fatal(err)
	}
	_, _, err := rs.Sync(ctx, rp, tag)
	wantReplicaCode(t, "a removed replica's sync", err, node.EUnauthorized)
}
