package node_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/trust"
)

// A replica token used before the replica's first start let its holder
// register a key first, and home sealed the province's content keys to
// it. Home now trusts registered keys only once an admin confirmed their
// fingerprint: the thief's keys, registered first, get nothing; the
// replica's own, once confirmed, are the only ones sealed to and are
// kept; keys made anew need a new confirmation.
func TestReplicaKeysAreTrustedOnlyOnceAnAdminConfirmsThem(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	rs, adm := n.Replicas(), admin(t, n)
	added := addedReplica(t, n, "r1")
	rp := authenticatedReplica(t, rs, added.Token)
	thief, own := newReplicaKeys(t), newReplicaKeys(t)
	st, err := rs.Register(ctx, rp, thief.encJWK, thief.sigJWK)
	if err != nil || st.Trusted || st.Fingerprint != thief.fp || st.Province != n.Province() || st.Name != "r1" {
		t.Fatalf("the thief's registration: %+v %v; want its fingerprint, not trusted", st, err)
	}
	_, _, err = rs.Sync(ctx, rp, "")
	wantReplicaCode(t, "a sync for keys nobody confirmed", err, node.EReplicaUnconfirmed)
	if !strings.Contains(err.Error(), "hcnode replica confirm r1 FINGERPRINT") {
		t.Errorf("the refusal does not say what to do: %v", err)
	}

	// The operator confirms the fingerprint the replica printed, typed
	// in lower case without dashes; the thief's keys stay untrusted.
	typed := strings.ToLower(strings.ReplaceAll(own.fp, "-", ""))
	_, err = rs.Confirm(ctx, operator, "r1", typed)
	wantReplicaCode(t, "an operator who is no admin confirming", err, node.EAdminRequired)
	_, err = rs.Confirm(ctx, adm, "r1", "not-a-fingerprint")
	wantReplicaCode(t, "a malformed fingerprint", err, node.EInvalid)
	_, err = rs.Confirm(ctx, adm, "r9", own.fp)
	wantReplicaCode(t, "an unknown replica", err, node.ENotFound)
	info, err := rs.Confirm(ctx, adm, "r1", typed)
	if err != nil || info.Trusted || info.Confirmed != own.fp || info.Fingerprint != thief.fp {
		t.Fatalf("confirm with the thief's keys registered: %+v %v", info, err)
	}
	_, _, err = rs.Sync(ctx, rp, "")
	wantReplicaCode(t, "a sync for the thief's keys, another fingerprint confirmed", err, node.EReplicaUnconfirmed)

	// The replica registers its own keys (again, at its next refresh):
	// trusted, and the only ones content keys are sealed to.
	if st, err := rs.Register(ctx, rp, own.encJWK, own.sigJWK); err != nil || !st.Trusted {
		t.Fatalf("the replica's own registration: %+v %v", st, err)
	}
	_, err = rs.Register(ctx, rp, thief.encJWK, thief.sigJWK)
	wantReplicaCode(t, "the thief registering again", err, node.EConflict)
	s, _, err := rs.Sync(ctx, rp, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trust.OpenContentKeys(s.ContentKeys, own.enc); err != nil {
		t.Fatalf("the content keys do not open with the replica's key: %v", err)
	}
	if _, err := trust.OpenContentKeys(s.ContentKeys, thief.enc); err == nil {
		t.Fatal("the content keys open with the thief's key")
	}

	// A replica that made new keys (its data directory lost) is refused
	// until its new fingerprint is confirmed.
	fresh := newReplicaKeys(t)
	_, err = rs.Register(ctx, rp, fresh.encJWK, fresh.sigJWK)
	wantReplicaCode(t, "new keys not confirmed", err, node.EConflict)
	if _, err := rs.Confirm(ctx, adm, added.ID, fresh.fp); err != nil {
		t.Fatal(err)
	}
	_, _, err = rs.Sync(ctx, rp, "")
	wantReplicaCode(t, "a sync once another fingerprint is confirmed", err, node.EReplicaUnconfirmed)
	if st, err := rs.Register(ctx, rp, fresh.encJWK, fresh.sigJWK); err != nil || !st.Trusted {
		t.Fatalf("the new keys once confirmed: %+v %v", st, err)
	}
	l, err := rs.List(ctx, operator)
	if err != nil || len(l) != 1 || !l[0].Trusted || l[0].Fingerprint != fresh.fp {
		t.Fatalf("list: %+v %v", l, err)
	}
}

// A stolen replica token could add verification records to the audit
// log and the residents' histories. Records now need the signature of
// the replica's confirmed signing key over the body sent.
func TestReplicaRecordsNeedTheConfirmedReplicasSignature(t *testing.T) {
	d := startNode(t)
	n := d.Node
	ctx := context.Background()
	r1 := registeredReplica(t, n, "r1")
	sc, err := n.AddScanner(ctx, operator, "gate 1", "station")
	if err != nil {
		t.Fatal(err)
	}
	p := node.Principal{Role: node.RoleScanner, ScannerID: sc.ID, Place: "station"}
	rec := func(id string) []node.ReplicaRecord {
		return []node.ReplicaRecord{node.NewReplicaRecord(id, p, n.Province(), "", trust.Result{Reason: trust.ReasonOK, Issuer: "110000", JTI: "jti1"}, n.Now())}
	}
	body := []byte(`{"records":[]}`)
	_, err = n.Replicas().AcceptRecords(ctx, r1.ReplicaPrincipal, body, "")
	wantReplicaCode(t, "records with the token alone", err, node.EReplicaSignature)
	thief := newReplicaKeys(t)
	_, err = sendRecords(t, n, r1.ReplicaPrincipal, thief.sig, rec("id1"))
	wantReplicaCode(t, "records signed by another key", err, node.EReplicaSignature)
	sig, err := trust.SignReplicaRecords(r1.keys.sig, body)
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.Replicas().AcceptRecords(ctx, r1.ReplicaPrincipal, []byte(`{"records":[{"id":"x"}]}`), sig)
	wantReplicaCode(t, "the replica's signature of another body", err, node.EReplicaSignature)
	if got, err := sendRecords(t, n, r1.ReplicaPrincipal, r1.keys.sig, rec("id2")); err != nil || got != 1 {
		t.Fatalf("the replica's own signed records: %d %v", got, err)
	}

	// A replica whose keys are not confirmed sends nothing, signed or not.
	added, err := n.Replicas().Add(ctx, admin(t, n), "r2")
	if err != nil {
		t.Fatal(err)
	}
	rp2, err := n.Replicas().Authenticate(ctx, added.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Replicas().Register(ctx, rp2, thief.encJWK, thief.sigJWK); err != nil {
		t.Fatal(err)
	}
	_, err = sendRecords(t, n, rp2, thief.sig, rec("id3"))
	wantReplicaCode(t, "records of a replica not confirmed", err, node.EReplicaUnconfirmed)

	es, err := d.DB.AuditEntries(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	verifies := 0
	for _, e := range es {
		if e.Action == "code.verify" {
			verifies++
		}
	}
	if verifies != 1 {
		t.Fatalf("%d verification entries, want the one signed by the replica", verifies)
	}
}

// Confirm and Remove take an id or a name, and a replica could be named
// after another's id: 'hcnode replica confirm NAME FP' then confirmed
// both (ending the other's grandfathered key), and remove removed both.
// A name of an id's form is refused.
func TestAReplicaNameIsNeverAnotherReplicasID(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	rs, adm := n.Replicas(), admin(t, n)
	first, err := rs.Add(ctx, adm, "r1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = rs.Add(ctx, adm, first.ID)
	wantReplicaCode(t, "a replica named after another's id", err, node.EInvalid)
	if err := rs.Remove(ctx, adm, first.ID); err != nil {
		t.Fatal(err)
	}
	list, err := rs.List(ctx, adm)
	if err != nil || len(list) != 0 {
		t.Fatalf("replicas left: %+v %v", list, err)
	}
}
