package node

import (
	"context"
	"crypto/ecdsa"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// keySchedule owns the node's own keys and their schedule: the keyring
// (roots, encryption key, signing keys, content keys), the signed keyset
// and the code issuer and statement signer built over them, and every
// change to them — the periodic schedule (rotation.go: publish ahead,
// promote, drop, content-key epochs), the operators' rotations and
// compromises, root rotation, re-signing for a new trust list or after a
// restore (keychange.go commits each change in one transaction). It
// reaches the database, the KEK, the trust state, the metrics, the clock
// and the logger it is given, and the federation through Node.fed (to
// tell it of new keys); none of this state lives on Node.
//
// Node keeps one thin exported entry point per operation (rotation.go,
// node.go), so that node/api, the daemon and the tests speak to the node
// alone.
type keySchedule struct {
	db       *store.DB
	kek      *seal.Key
	state    *trust.State
	province string
	cfg      config.Keys
	log      *slog.Logger
	metrics  *Metrics
	clock                            // now, and audit entries at it (audit.go)
	fed      *atomic.Pointer[fedBox] // Node.fed: set once the node connects

	mu        sync.Mutex // serialises key changes
	kr        *keyring   // guarded by mu, but for kr.enc, which never changes
	keysetExp time.Time  // guarded by mu
	// audience are the members in good standing the current content keys
	// were last checked against (contentrekey.go); nil when unknown.
	// Guarded by mu.
	audience map[string]bool
	// lost are the signing keys a restore lost whose public halves every
	// keyset lists until they expire (restorekeys.go). Guarded by mu.
	lost []lostKey
	// restoredAt is the time of the latest restore, from which new
	// content keys take their generations (restorecontent.go); zero if
	// none. Guarded by mu.
	restoredAt time.Time
	keysetRaw  atomic.Pointer[string]
	issuer     atomic.Pointer[trust.CodeIssuer] // also read by codes (codes.go)
	signer     atomic.Pointer[trust.StatementSigner]
}

// newKeySchedule builds the key schedule over kr, a keyring loadKeyring
// opened. Nothing is signed or installed until start.
func newKeySchedule(kr *keyring, db *store.DB, kek *seal.Key, state *trust.State, s config.Config,
	log *slog.Logger, m *Metrics, now func() time.Time, fed *atomic.Pointer[fedBox]) *keySchedule {
	return &keySchedule{db: db, kek: kek, state: state, province: s.Province, cfg: s.Keys, log: log,
		metrics: m, clock: clock{now}, fed: fed, kr: kr}
}

// start applies the key schedule at the node's clock and commits a newly
// signed keyset, installing the issuer and signer: node.New calls it once.
func (ks *keySchedule) start(ctx context.Context) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.loadAudience(ctx); err != nil {
		return err
	}
	if err := ks.loadLost(ctx); err != nil {
		return err
	}
	kc := ks.beginKeys(ks.now())
	if err := ks.loadRestore(ctx, kc); err != nil {
		return err
	}
	if err := ks.maintainKeys(kc); err != nil {
		return err
	}
	if err := ks.checkAudience(kc); err != nil {
		return err
	}
	if err := ks.commitKeys(ctx, kc); err != nil {
		return err
	}
	ks.settleAudience(ctx, kc)
	return nil
}

// tick applies the key schedule at now (Node.Tick): it commits a change
// to the keys, or a new keyset version when the keyset nears its expiry,
// or else installs a new issuer when the content-key epoch moved on.
func (ks *keySchedule) tick(ctx context.Context, now time.Time) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	kc := ks.beginKeys(now)
	if err := ks.maintainKeys(kc); err != nil {
		return err
	}
	if err := ks.checkAudience(kc); err != nil {
		return err
	}
	id, _, _ := epochOf(now, ks.cfg.ContentEpoch)
	cur := kc.kr.currentContentKey(ks.province, id)
	epochMoved := ks.issuer.Load() == nil || cur == nil || ks.issuer.Load().ContentKeyID() != cur.ID
	var err error
	switch {
	case kc.changed() || now.Add(ks.cfg.Rotation).After(ks.keysetExp):
		err = ks.commitKeys(ctx, kc)
	case epochMoved:
		err = ks.installIssuer(ctx, now)
	}
	if err == nil {
		ks.settleAudience(ctx, kc)
	}
	return err
}

// keyset is the node's current signed keyset statement (Node.Keyset).
func (ks *keySchedule) keyset() string {
	if p := ks.keysetRaw.Load(); p != nil {
		return *p
	}
	return ""
}

// codeIssuer is the current code issuer, nil before start.
func (ks *keySchedule) codeIssuer() *trust.CodeIssuer { return ks.issuer.Load() }

// contentKeys returns a copy of the node's own live content keys
// (Node.ContentKeys).
func (ks *keySchedule) contentKeys() []trust.ContentKey {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return append([]trust.ContentKey(nil), ks.kr.content...)
}

// encKey is the node's content-key-grant and lookup decryption key. It
// never changes, so it is read without mu.
func (ks *keySchedule) encKey() *ecdsa.PrivateKey { return ks.kr.enc }

// rootPublic is a copy of the public half of the active root key, read
// under mu: a root rotation replaces the key while a restored node's link
// reconciles (Link.heldKeyset read it without the lock before).
func (ks *keySchedule) rootPublic() *ecdsa.PublicKey {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	pub := ks.kr.root.PublicKey
	return &pub
}

// verifyKeys are the signing keys that may have signed this province's
// statements: the ones held, and those of held, the keyset the federation
// holds (keys made after the backup). A key held marks compromised is
// compromised here too, whatever the backup says of it: the backup may
// predate the compromise, and a statement of the stolen key, which no
// peer accepts, must not be taken back either.
func (ks *keySchedule) verifyKeys(held *trust.VerifiedKeyset) map[string]*trust.Key {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	keys := map[string]*trust.Key{}
	if held != nil {
		for kid, k := range held.Signing {
			keys[kid] = k
		}
	}
	for _, k := range ks.kr.sign {
		tk := k.trustKey()
		if h := keys[tk.ID]; h != nil && h.State == trust.KeyCompromised {
			tk.State = trust.KeyCompromised
		}
		keys[tk.ID] = tk
	}
	return keys
}

// resign signs the keyset again with a version above held's, the keyset
// of this province the federation holds (nil if none), and commits it
// like any key change. A key held marks compromised is marked so here
// too, and replaced if it was active: the keys are a restored backup's,
// which may predate the compromise, and a keyset signed from them would
// make the key good again at every peer. A key held lists that the
// backup lacks (made after it) is kept, public half only, until it
// expires (keepLost): the codes it signed stay good. Otherwise the keys
// are unchanged.
func (ks *keySchedule) resign(ctx context.Context, held *trust.VerifiedKeyset) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	kc := ks.beginKeys(ks.now())
	if held != nil {
		kc.minVersion = held.Version
		for _, k := range kc.kr.sign {
			if h := held.Signing[k.row.KID]; h != nil && h.State == trust.KeyCompromised && k.row.State != string(trust.KeyCompromised) {
				if err := ks.markCompromised(kc, k); err != nil {
					return err
				}
				kc.audit(ks.auditEntry("system", "key.compromise", k.row.KID, map[string]any{"keyset_held": held.Version}))
			}
		}
		if err := ks.keepLost(kc, held); err != nil {
			return err
		}
	}
	kc.audit(ks.auditEntry("system", "key.resign", "", map[string]any{"above": kc.minVersion}))
	return ks.commitKeys(ctx, kc)
}

// federation returns the attached federation layer, or nil.
func (ks *keySchedule) federation() Federation { return loadFederation(ks.fed) }

// metaUint reads a numeric meta value; a missing one is 0.
func (ks *keySchedule) metaUint(ctx context.Context, key string) (uint64, error) {
	v, err := ks.db.GetMeta(ctx, key)
	if err != nil || v == "" {
		return 0, ignoreNotFound(err)
	}
	return strconv.ParseUint(v, 10, 64)
}
