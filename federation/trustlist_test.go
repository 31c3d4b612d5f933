package federation

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hcfed/hcfed/trust"
)

// allActive is every fixture province, active.
var allActive = map[string]trust.MemberStatus{gd: trust.MemberActive, sh: trust.MemberActive, bj: trust.MemberActive}

// stopSourcingTrustList removes the operators' own bucket from the
// sources of op's account's shared bucket: what that bucket holds stays
// as it is, as if the server were slow to copy. It makes deterministic
// the moment, right after a put, when the two buckets differ.
func stopSourcingTrustList(t *testing.T, op *Conn) {
	t.Helper()
	ctx := testCtx(t)
	s, err := op.js.Stream(ctx, "KV_"+op.bucket)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	var kept []*jetstream.StreamSource
	for _, src := range cfg.Sources {
		if src.Name != "KV_"+ownBucketName(testFed, operatorTag) {
			kept = append(kept, src)
		}
	}
	if len(kept) != len(cfg.Sources)-1 {
		t.Fatalf("the shared bucket has no source %s", ownBucketName(testFed, operatorTag))
	}
	cfg.Sources = kept
	if _, err := op.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("stop sourcing: %v", err)
	}
}

// waitShared waits until c's shared bucket holds trust list version v.
func waitShared(t *testing.T, c *Conn, v uint64) {
	t.Helper()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		raw, _, err := c.GetState(testCtx(t), string(KindTrustList))
		if err != nil {
			return err
		}
		tl, err := trust.ParseTrustList(raw)
		if err != nil {
			return err
		}
		if tl.Version != v {
			return fmt.Errorf("shared bucket holds v%d, want v%d", tl.Version, v)
		}
		return nil
	})
}

// wantNewest checks that NewestTrustList of c returns version v.
func wantNewest(t *testing.T, c *Conn, v uint64, when string) {
	t.Helper()
	tl, err := c.NewestTrustList(testCtx(t))
	if err != nil {
		t.Fatalf("%s: NewestTrustList: %v", when, err)
	}
	if tl.Version != v {
		t.Fatalf("%s: NewestTrustList returned v%d, want v%d", when, tl.Version, v)
	}
}

// In accounts mode the operators write their own bucket, and the server
// copies it into the shared bucket a moment later: a publisher that read
// the shared bucket alone right after publishing saw no list, or the one
// before, and published again (the same version twice, or one lower than
// it had just published). NewestTrustList takes the higher version of
// both, whichever is behind.
func TestAccountsNewestTrustListSeesAPublicationTheSharedBucketHasNotYet(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	f := runAccountsServer(t)
	ctx := testCtx(t)
	op := f.conn(t, "", RoleOperator)
	if _, err := op.NewestTrustList(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("NewestTrustList of an empty federation: %v, want ErrNotFound", err)
	}
	v2 := fx.signTrustList(2, allActive)
	put(t, op, "trustlist", v2)
	waitShared(t, op, 2)
	stopSourcingTrustList(t, op)

	// Another account wrote v2 (as far as this connection can tell: the
	// shared bucket holds it), the own bucket holds an older version.
	put(t, op, "trustlist", fx.trustList)
	wantNewest(t, op, 2, "own bucket v1, shared v2")

	// Just published v3: the shared bucket still says v2.
	put(t, op, "trustlist", fx.signTrustList(3, allActive))
	if raw, _, err := op.GetState(ctx, "trustlist"); err != nil || !bytesHoldVersion(raw, 2) {
		t.Fatalf("the shared bucket moved on (%v): the test no longer shows the lag", err)
	}
	wantNewest(t, op, 3, "own bucket v3, shared v2")

	// A province's connection may not write the trust list: it reads the
	// shared bucket of its account only, which is still sourced.
	gdc := f.node(t, gd)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		tl, err := gdc.NewestTrustList(ctx)
		if err == nil && tl.Version != 3 {
			err = fmt.Errorf("gd's node reads v%d, want v3", tl.Version)
		}
		return err
	})

	// A document that does not parse is a refusal with its reason, not
	// a missing list (which would make the publisher start afresh).
	put(t, op, "trustlist", []byte(`{"junk":true}`))
	_, err := op.NewestTrustList(ctx)
	if te := (*trust.Error)(nil); !errors.As(err, &te) || errors.Is(err, ErrNotFound) {
		t.Fatalf("NewestTrustList over junk: %v, want a *trust.Error", err)
	}
}

// bytesHoldVersion reports whether raw parses as trust list version v.
func bytesHoldVersion(raw []byte, v uint64) bool {
	tl, err := trust.ParseTrustList(raw)
	return err == nil && tl.Version == v
}

// The same trust list put again (a publisher's retry, or a double
// publication) reaches every node a second time: the node holds those
// bytes already, so it neither applies nor refuses them, and nothing
// counts as a refusal (the HCFedTrustListRefused alert of the runbook).
func TestAccountsSyncIgnoresATrustListPutAgain(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	f := runAccountsServer(t)
	op := f.conn(t, "", RoleOperator)
	u := fx.newSync(f.node(t, gd), gd).run(t)
	u.waitReady(t)
	v2, v3 := fx.signTrustList(2, allActive), fx.signTrustList(3, allActive)
	for _, raw := range [][]byte{fx.trustList, fx.trustList, v2, v2, v3} {
		put(t, op, "trustlist", raw)
	}
	// v3 is sourced after the others: once it is held, all were handled.
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if v := u.state.TrustList().Version; v != 3 {
			return fmt.Errorf("gd holds v%d, want v3", v)
		}
		return nil
	})
	if n := u.outcomes.count("trustlist/ok"); n != 2 {
		t.Errorf("%d trust lists counted as applied, want 2 (v2 and v3, each once)", n)
	}
	if st := u.Stats(); st.Rejected != 0 {
		t.Errorf("%d statements counted as refused, want none", st.Rejected)
	}
}
