package node

import (
	"context"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// OfflineState builds, without writing anything, the trust state a node's
// database holds: its own keyset, content keys and revocations. Offline
// tools (hcnode verify) check codes against it with no network at all.
func OfflineState(ctx context.Context, db *store.DB, kek *seal.Key, cfg config.Config, now time.Time) (*trust.State, error) {
	kr, err := loadKeyring(ctx, db, kek)
	if err != nil {
		return nil, err
	}
	st, err := trust.NewState(trust.StateConfig{Self: cfg.Province, EncKey: kr.enc, SelfRoot: &kr.root.PublicKey})
	if err != nil {
		return nil, err
	}
	raw, err := db.GetMeta(ctx, "keyset")
	if err != nil {
		return nil, internal("offline state: no keyset yet; start the node once", err)
	}
	if err := st.ApplyKeyset(cfg.Province, raw, now); err != nil {
		return nil, err
	}
	for _, ck := range kr.content {
		st.AddOwnContentKey(ck)
	}
	es, err := db.LiveRevocations(ctx, now)
	if err != nil {
		return nil, err
	}
	seq, err := db.LastRevocationSeq(ctx)
	if err != nil {
		return nil, err
	}
	st.RevokeOwn(seq, toTrustEntries(es), now)
	return st, nil
}
