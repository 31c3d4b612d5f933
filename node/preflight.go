package node

import (
	"context"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// SigningKeys is what a preflight ('hcnode check') learns of a node's own
// signing keys.
type SigningKeys struct {
	// Active is the kid of the key that signs codes now; "" when none
	// does (the node makes one at start).
	Active string
	// RotationDue is when the schedule replaces the active key:
	// keys.rotation after it began signing. A start past it rotates.
	RotationDue time.Time
}

// CheckKeys opens every key in the node's database with kek, as a start
// does, so a KEK that does not open them is refused with the error a
// start stops with; and it reports the signing keys. It writes nothing:
// db may be store.OpenReadOnly's.
func CheckKeys(ctx context.Context, db *store.DB, kek *seal.Key, cfg config.Config) (SigningKeys, error) {
	kr, err := loadKeyring(ctx, db, kek)
	if err != nil {
		return SigningKeys{}, err
	}
	act := kr.active()
	if act == nil {
		return SigningKeys{}, nil
	}
	return SigningKeys{Active: act.row.KID, RotationDue: act.row.NotBefore.Add(cfg.Keys.Rotation)}, nil
}

// CheckTrust builds the trust state a start at now would build
// (NewTrustState: the list held, or the pinned trust.list_file read,
// checked against its SHA-256 and the chain rules), recording nothing,
// and returns the federation trust list the node would hold: nil when it
// holds none and pins none.
func CheckTrust(ctx context.Context, db *store.DB, kek *seal.Key, cfg config.Config, now time.Time) (*trust.ParsedTrustList, error) {
	st, _, err := newTrustState(ctx, db, kek, cfg, now, false)
	if err != nil {
		return nil, err
	}
	return st.TrustList(), nil
}
