package federation

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestAccountsStateRevocationsAndSnapshotsReachEveryProvince(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	f := runAccountsServer(t)
	ctx := testCtx(t)
	op, gdc, shc := f.conn(t, "", RoleOperator), f.node(t, gd), f.node(t, sh)

	put(t, op, "trustlist", fx.trustList)
	keyset, rev := fx.keyset(gd, 1), fx.revocation(gd, 1)
	put(t, gdc, gd+".keyset", keyset)
	for _, c := range []*Conn{shc, f.node(t, bj), f.conn(t, sh, RoleVerifier)} {
		checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			for key, want := range map[string][]byte{"trustlist": fx.trustList, gd + ".keyset": keyset} {
				got, _, err := c.GetState(ctx, key)
				if err != nil {
					return err
				}
				if !bytes.Equal(got, want) {
					return fmt.Errorf("%s differs", key)
				}
			}
			return nil
		})
	}

	if err := gdc.PublishRevocation(ctx, gd, 1, rev); err != nil {
		t.Fatalf("PublishRevocation: %v", err)
	}
	var got recorder[RevocationMsg]
	if err := shc.ConsumeRevocations(ctx, 0, func(m RevocationMsg) error { got.add(m); return nil }); err != nil {
		t.Fatal(err)
	}
	if m := got.waitLen(t, 1)[0]; m.Province != gd || !bytes.Equal(m.Data, rev) {
		t.Fatalf("sh consumed %s's %q, want gd's revocation 1", m.Province, m.Data)
	}

	snap := fx.snapshot(gd, 1)
	if err := gdc.PutSnapshot(ctx, gd, snap); err != nil {
		t.Fatalf("PutSnapshot: %v", err)
	}
	for _, c := range []*Conn{shc, gdc, f.conn(t, bj, RoleVerifier)} {
		b, err := c.GetSnapshot(ctx, gd)
		if err != nil {
			t.Fatalf("GetSnapshot by %s: %v", c.Province(), err)
		}
		if !bytes.Equal(b, snap) {
			t.Fatalf("GetSnapshot by %s: %d bytes differ from the %d put", c.Province(), len(b), len(snap))
		}
	}
	if _, err := shc.GetSnapshot(ctx, bj); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetSnapshot of a province without one: %v, want ErrNotFound", err)
	}
}

// In accounts mode a node's and a verifier's ClusterInfo read the assets
// their users may read: the snapshot asset is the province's own bucket
// (there is no shared one), so no stream info is refused by the server.
func TestAccountsClusterInfoReadsOnlyAssetsTheUserMayRead(t *testing.T) {
	t.Parallel()
	f := runAccountsServer(t)
	for _, c := range []*Conn{f.node(t, gd), f.conn(t, sh, RoleVerifier)} {
		info := c.ClusterInfo(testCtx(t))
		if len(info.Streams) != 3 {
			t.Fatalf("%s: %d assets", c.Province(), len(info.Streams))
		}
		for _, s := range info.Streams {
			if s.Error != "" || s.Replicas != 1 || s.Current != 1 {
				t.Errorf("%s: %s (%s): error %q, %d/%d replicas", c.Province(), s.Asset, s.Stream, s.Error, s.Current, s.Replicas)
			}
		}
		if want := "OBJ_" + ownSnapshotBucketName(testFed, c.Province()); info.Streams[2].Stream != want {
			t.Errorf("%s: snapshots asset %s, want %s", c.Province(), info.Streams[2].Stream, want)
		}
	}
}
