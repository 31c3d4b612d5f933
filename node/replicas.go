package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Replica limits.
const (
	// MaxReplicaRecords bounds the records of one POST /v1/replica/records.
	MaxReplicaRecords = 500
	// replicaRecordMaxAge bounds how old a record a replica may send, and
	// how long its id is remembered so that a batch sent again is not
	// counted twice.
	replicaRecordMaxAge = 7 * 24 * time.Hour
	// maxReplicaRecordID bounds a record id (the replica draws 128 bits).
	maxReplicaRecordID = 64
	// maxReplicaNameLen bounds a replica's name.
	maxReplicaNameLen = 64
	// replicaIDPrefix begins every replica id, and no name.
	replicaIDPrefix = "rp_"
)

// Replicas is a home node's side of its verifier replicas: their
// registration by operators, and what they ask of the home node — the
// scanners and content keys (ReplicaSync) and the verifications their
// scanners made (AcceptRecords). It is a type of its own so that Node
// does not grow with it.
//
// The registry and the replicas' tokens (Add, List, Remove, Authenticate,
// Register) need only the node's access service; Sync and AcceptRecords
// also read the node's trust state and feed its verification path.
type Replicas struct {
	a    *access
	n    *Node
	seen replicaSeen // when each replica's last_seen was last written
}

// Replicas returns the node's replica service.
func (n *Node) Replicas() *Replicas { return n.replicas }

// NewReplica is a replica registration: its token is shown once.
type NewReplica struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Token string `json:"token"`
}

// ReplicaInfo is a registered replica as operators see it.
type ReplicaInfo struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	KeyID string `json:"key_id,omitempty"` // thumbprint of the enc key it registered
	// Fingerprint is that of the keys it registered (trust.ReplicaFingerprint);
	// Confirmed, the one an admin confirmed; Trusted, whether they are
	// the same: only then does it get content keys and give records.
	Fingerprint string `json:"fingerprint,omitempty"`
	Confirmed   string `json:"confirmed_fingerprint,omitempty"`
	Trusted     bool   `json:"trusted"`
	// Grandfathered: not Trusted, but its enc key is the one home held
	// before fingerprints (store.Replica.Grandfathered): it gets scanners
	// and content keys and serves; its records wait at the replica until
	// an admin confirms its fingerprint. Pending says so in words.
	Grandfathered bool   `json:"grandfathered,omitempty"`
	Pending       string `json:"pending,omitempty"`
	// Registered lists (List only) the fingerprints of the keys
	// registered that no admin confirmed, which home holds so that a
	// confirmation takes its own at once (store.RegisterReplicaKeys).
	// KeyChanges counts the registrations of keys home did not hold: a
	// replica makes its keys once, and anew only when its data directory
	// is lost; more says someone else holds its token.
	Registered []string  `json:"registered_fingerprints,omitempty"`
	KeyChanges int       `json:"key_changes"`
	Created    time.Time `json:"created"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
}

// replicaInfo is x as operators see it.
func replicaInfo(x store.Replica) ReplicaInfo {
	info := ReplicaInfo{ID: x.ID, Name: x.Name, Fingerprint: x.KeyFP, Confirmed: x.Confirmed, Trusted: x.Trusted(),
		Grandfathered: x.Grandfathered(), KeyChanges: x.KeyChanges, Created: x.Created, LastSeen: x.LastSeen}
	if info.Grandfathered {
		info.Pending = grandfatheredNote(x)
	}
	if pub, kid, err := trust.ParsePublicJWK(json.RawMessage(x.EncKey)); err == nil && pub != nil {
		info.KeyID = kid
	}
	return info
}

// ReplicaStatus is what home tells a replica of itself, in answer to its
// registration and to GET /v1/replica/status: home's province, the
// replica's name there, the fingerprint of the keys it registered and
// the one an admin confirmed, and whether they are the same.
//
// Grandfathered (see ReplicaInfo) says that, not trusted, it is still
// sent scanners and content keys, its records held until confirmed.
// KeyChanges is ReplicaInfo's.
type ReplicaStatus struct {
	Province      string `json:"province"`
	Name          string `json:"name"`
	Fingerprint   string `json:"fingerprint"`
	Confirmed     string `json:"confirmed_fingerprint"`
	Trusted       bool   `json:"trusted"`
	Grandfathered bool   `json:"grandfathered,omitempty"`
	KeyChanges    int    `json:"key_changes"`
}

func (r *Replicas) status(x store.Replica) ReplicaStatus {
	return ReplicaStatus{Province: r.n.cfg.Province, Name: x.Name, Fingerprint: x.KeyFP, Confirmed: x.Confirmed, Trusted: x.Trusted(),
		Grandfathered: x.Grandfathered(), KeyChanges: x.KeyChanges}
}

// grandfatheredNote says what a grandfathered replica (see
// store.Replica.Grandfathered) is waiting for.
func grandfatheredNote(x store.Replica) string {
	fp := "FINGERPRINT"
	if x.KeyFP != "" {
		fp = x.KeyFP
	}
	return fmt.Sprintf("serving on the enc key home held before the upgrade; its fingerprint awaits confirmation and its "+
		"verification records are held at the replica until an admin runs 'hcnode replica confirm %s %s' "+
		"(compare it with the one 'hcnode check' prints on the replica's machine)", x.Name, fp)
}

// unconfirmed is the refusal of a replica whose keys are not the ones
// an admin confirmed, saying what to do.
func unconfirmed(x store.Replica) error {
	held := "no keys registered yet"
	if x.KeyFP != "" {
		held = "keys of fingerprint " + x.KeyFP + " registered"
	}
	confirmed := "none confirmed"
	if x.Confirmed != "" {
		confirmed = "fingerprint " + x.Confirmed + " confirmed"
	}
	return Errorf(EReplicaUnconfirmed, "replica %s's keys are not confirmed at home (%s, %s): compare the fingerprint the replica prints "+
		"(its log at start, 'hcnode check' on its machine), then at home run 'hcnode replica confirm %s FINGERPRINT' (admin)",
		x.Name, held, confirmed, x.Name)
}

// ReplicaPrincipal is an authenticated replica.
type ReplicaPrincipal struct {
	ID   string
	Name string
}

// Add registers a replica and returns its token, stored hashed. Admins
// only: a replica receives the province's content keys.
func (r *Replicas) Add(ctx context.Context, p Principal, name string) (NewReplica, error) {
	if err := permitAdmin(ctx, r.a.db, r.a.now(), p, adminOps[OpAddReplica]); err != nil {
		return NewReplica{}, err
	}
	name = strings.TrimSpace(name)
	if err := checkText("name", name, maxReplicaNameLen, false); err != nil {
		return NewReplica{}, err
	}
	if name == "" {
		return NewReplica{}, Errorf(EInvalid, "name is required")
	}
	// Confirm and Remove take an id or a name: a name of an id's form
	// could be another replica's id, and they would act on both.
	if strings.HasPrefix(strings.ToLower(name), replicaIDPrefix) {
		return NewReplica{}, Errorf(EInvalid, "a replica's name may not begin with %q, which begins replica ids", replicaIDPrefix)
	}
	id, err := randomID(r.a.rand, replicaIDPrefix)
	if err != nil {
		return NewReplica{}, internal("add replica", err)
	}
	tok, hash, err := r.a.newToken()
	if err != nil {
		return NewReplica{}, internal("add replica", err)
	}
	err = r.a.db.AddReplica(ctx, store.Replica{ID: id, Name: name, TokenHash: hash, Created: r.a.now()},
		r.a.auditEntry(p.Actor(), "replica.add", id, nil))
	if errors.Is(err, store.ErrConflict) {
		return NewReplica{}, Errorf(EConflict, "a replica of that name exists")
	}
	if err != nil {
		return NewReplica{}, internal("add replica", err)
	}
	r.a.replicaMisses.created(hash)
	return NewReplica{ID: id, Name: name, Token: tok}, nil
}

// List lists the registered replicas (never their tokens).
func (r *Replicas) List(ctx context.Context, p Principal) ([]ReplicaInfo, error) {
	if err := require(p, RoleOperator); err != nil {
		return nil, err
	}
	rs, err := r.a.db.Replicas(ctx)
	if err != nil {
		return nil, internal("list replicas", err)
	}
	cands, err := r.a.db.ReplicaKeyCandidates(ctx)
	if err != nil {
		return nil, internal("list replicas", err)
	}
	out := make([]ReplicaInfo, 0, len(rs))
	for _, x := range rs {
		info := replicaInfo(x)
		info.Registered = cands[x.ID]
		out = append(out, info)
	}
	return out, nil
}

// Confirm binds the replica of that id or name to the keys of
// fingerprint fp, which an admin read on the replica's own machine: home
// seals content keys to the replica and takes its records only while the
// keys it registered are of that fingerprint. Keys of that fingerprint
// registered unconfirmed are trusted at once, whatever was registered
// since (see Register). A fingerprint may be confirmed before the
// replica registers its keys (they are trusted at its next
// registration), and a new one confirmed lets a replica that made new
// keys (its data directory lost) register them. Admins only; audited.
func (r *Replicas) Confirm(ctx context.Context, p Principal, idOrName, fp string) (ReplicaInfo, error) {
	if err := permitAdmin(ctx, r.a.db, r.a.now(), p, adminOps[OpConfirmReplica]); err != nil {
		return ReplicaInfo{}, err
	}
	canon, ok := trust.ParseReplicaFingerprint(fp)
	if !ok {
		return ReplicaInfo{}, Errorf(EInvalid, "not a replica key fingerprint (32 letters and digits in groups of four, as the replica prints it)")
	}
	x, err := r.a.db.ConfirmReplica(ctx, idOrName, canon,
		r.a.auditEntry(p.Actor(), "replica.confirm", idOrName, map[string]string{"fingerprint": canon}))
	if errors.Is(err, store.ErrNotFound) {
		return ReplicaInfo{}, Errorf(ENotFound, "no such replica")
	}
	if err != nil {
		return ReplicaInfo{}, internal("confirm replica", err)
	}
	return replicaInfo(x), nil
}

// Remove deletes a replica, by id or name; its token stops working at
// the replica's next request. Admins only.
func (r *Replicas) Remove(ctx context.Context, p Principal, idOrName string) error {
	if err := permitAdmin(ctx, r.a.db, r.a.now(), p, "replica.remove"); err != nil {
		return err
	}
	err := r.a.db.RemoveReplica(ctx, idOrName, r.a.auditEntry(p.Actor(), "replica.remove", idOrName, nil))
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(ENotFound, "no such replica")
	}
	if err != nil {
		return internal("remove replica", err)
	}
	r.n.log.Info(LogReplicaRemoved, "replica", idOrName) // as RemoveScanner: for a restore to redo
	return nil
}

// Authenticate resolves a replica token. It reads the database on every
// call: replicas ask every few seconds, and a removed one must be refused
// at once. A token not found is refused unread for tokenMissTTL after
// (as the other tokens are, see tokenCache), so that repeating an unknown
// one costs a read per tokenMissTTL, not one per request; one the node
// cannot have issued (its check fails, see tokencheck.go) is refused
// unread.
func (r *Replicas) Authenticate(ctx context.Context, token string) (ReplicaPrincipal, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return ReplicaPrincipal{}, Errorf(EUnauthorized, "missing or malformed bearer token")
	}
	hash, now, misses := sha256.Sum256([]byte(token)), r.a.now(), &r.a.replicaMisses
	if !r.a.check.mayExist(token, hash) {
		return ReplicaPrincipal{}, Errorf(EUnauthorized, "unknown replica token")
	}
	if refusal := misses.missed(hash, now); refusal != nil {
		return ReplicaPrincipal{}, refusal
	}
	gen := misses.generation()
	r.a.reads.Inc()
	x, err := r.a.db.ReplicaByToken(ctx, hash[:])
	if errors.Is(err, store.ErrNotFound) {
		refusal := Errorf(EUnauthorized, "unknown replica token")
		misses.putMiss(hash, gen, now, refusal)
		return ReplicaPrincipal{}, refusal
	}
	if err != nil {
		return ReplicaPrincipal{}, internal("authenticate replica", err)
	}
	return ReplicaPrincipal{ID: x.ID, Name: x.Name}, nil
}

// Register records the public keys of rp: encKey, its content keys are
// sealed to, and sigKey, which signs its records (two keys: one is never
// used for both). Keys are trusted only once an admin confirmed their
// fingerprint (Confirm). Until then home holds the keys registered, a few
// per replica (store.RegisterReplicaKeys), and a confirmation takes those
// of its fingerprint at once: a replica token used before the replica's
// first start, or beside it, gains nothing, and a token holder
// registering between the replica's registration and the confirmation
// (or, grandfathered, its sync) cannot keep it out of service. Trusted
// keys are kept: others are EConflict until an admin confirms their
// fingerprint. Keys home holds write nothing; other keys past
// store.MaxReplicaKeyCandidates are EReplicaKeysLimit, but those of the
// confirmed fingerprint, and those of a grandfathered replica's enc key
// (answered grandfathered, nothing written: it keeps serving). Each registration of keys home did not hold is
// audited (replica.keys) and counted (ReplicaInfo.KeyChanges); every
// registration is counted in hcfed_replica_key_registrations_total. It
// returns what home holds of rp then, as of the keys registered.
//
// A registration without sigKey is a replica of a build before signing
// keys: it is taken only for the enc key home held before it
// (grandfathered, see store.Replica.Grandfathered) or already trusts, so
// that a rolling upgrade keeps the replica serving; any other is EInvalid.
func (r *Replicas) Register(ctx context.Context, rp ReplicaPrincipal, encKey, sigKey json.RawMessage) (ReplicaStatus, error) {
	if len(sigKey) == 0 {
		return r.registerEncOnly(ctx, rp, encKey)
	}
	enc, _, err := trust.ParsePublicJWK(encKey)
	if err != nil {
		return ReplicaStatus{}, Errorf(EInvalid, "enc_key is not a P-256 public JWK")
	}
	sig, _, err := trust.ParsePublicJWK(sigKey)
	if err != nil {
		return ReplicaStatus{}, Errorf(EInvalid, "sig_key is not a P-256 public JWK")
	}
	if enc.Equal(sig) {
		return ReplicaStatus{}, Errorf(EInvalid, "enc_key and sig_key are one key: a replica makes one of each")
	}
	encCanon, err := trust.EncJWK(enc)
	if err != nil {
		return ReplicaStatus{}, internal("register replica", err)
	}
	sigCanon, err := trust.SigJWK(sig)
	if err != nil {
		return ReplicaStatus{}, internal("register replica", err)
	}
	fp, err := trust.ReplicaFingerprint(enc, sig)
	if err != nil {
		return ReplicaStatus{}, internal("register replica", err)
	}
	window := r.n.cfg.Limits.ReplicaKeysWindow
	x, written, err := r.a.db.RegisterReplicaKeys(ctx, rp.ID, string(encCanon), string(sigCanon), fp, r.a.now(), window,
		r.a.auditEntry(replicaActor(rp), "replica.keys", rp.ID, map[string]string{"fingerprint": fp}))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ReplicaStatus{}, Errorf(EUnauthorized, "unknown replica token")
	case errors.Is(err, store.ErrConflict):
		r.n.metrics.ReplicaKeys.WithLabelValues(replicaKeysConflict).Inc()
		return ReplicaStatus{}, Errorf(EConflict, "replica %s's confirmed keys are of fingerprint %s, these of %s: if the replica made new keys "+
			"(its data directory was lost), confirm their fingerprint at home ('hcnode replica confirm %s FINGERPRINT', admin)",
			x.Name, x.KeyFP, fp, x.Name)
	case errors.Is(err, store.ErrReplicaKeysLimit):
		r.n.metrics.ReplicaKeys.WithLabelValues(replicaKeysRefused).Inc()
		free := "later"
		if limit := (*store.ReplicaKeysLimitError)(nil); errors.As(err, &limit) {
			free = "at " + limit.Free.UTC().Format(time.RFC3339)
		}
		return ReplicaStatus{}, Errorf(EReplicaKeysLimit, "replica %s has registered %d other keys in the last %s that no admin confirmed, "+
			"the most home holds for a replica, and a replica makes its keys once: if these (fingerprint %s) are the replica's own, as "+
			"'hcnode check' prints on its machine, confirm them at home ('hcnode replica confirm %s %s', admin) and they are taken at its "+
			"next registration, or wait: the oldest of the others is dropped %s (limits.replica_keys_window); if the replica did not "+
			"register the others, someone else holds its token: remove the replica and add it again",
			x.Name, store.MaxReplicaKeyCandidates, shortDuration(window), fp, x.Name, fp, free)
	case err != nil:
		return ReplicaStatus{}, internal("register replica", err)
	}
	r.countKeys(written)
	// The answer is of the keys registered: home may hold the replica's
	// under others (a grandfathered enc key kept, keys confirmed).
	st := r.status(x)
	st.Fingerprint = fp
	st.Trusted = x.Trusted() && x.KeyFP == fp
	st.Grandfathered = !st.Trusted && x.Grandfathered() && x.EncKey == string(encCanon)
	return st, nil
}

// The results of a replica's key registration, as
// hcfed_replica_key_registrations_total counts them: expired is a key
// set held unconfirmed past limits.replica_keys_window, dropped (tick).
const (
	replicaKeysHeld     = "held"
	replicaKeysNew      = "new"
	replicaKeysRefused  = "refused"
	replicaKeysConflict = "conflict"
	replicaKeysExpired  = "expired"
)

// tick drops the key sets registered unconfirmed limits.replica_keys_window
// ago or earlier (store.DropExpiredReplicaKeys; they no longer count
// toward a replica's bound), so that the list shows the sets that count:
// each replica's are audited (replica.keys_expired, by the system),
// counted (expired) and logged. A replica whose keys are dropped
// registers them again at its next refresh, as new keys.
func (r *Replicas) tick(ctx context.Context, now time.Time) error {
	window := r.n.cfg.Limits.ReplicaKeysWindow
	dropped, err := r.a.db.DropExpiredReplicaKeys(ctx, now.Add(-window), func(id string, fps []string) store.AuditEntry {
		return r.a.auditEntry("system", "replica.keys_expired", id, map[string]string{"fingerprints": strings.Join(fps, " "),
			"window": shortDuration(window)})
	})
	if err != nil {
		return err
	}
	for id, fps := range dropped {
		r.n.metrics.ReplicaKeys.WithLabelValues(replicaKeysExpired).Add(float64(len(fps)))
		r.n.log.Info("replica keys registered unconfirmed dropped after limits.replica_keys_window; their slots are free",
			"replica", id, "fingerprints", fps, "window", shortDuration(window))
	}
	return nil
}

// countKeys counts a registration taken: of keys home did not hold
// (written) or of keys it held.
func (r *Replicas) countKeys(written bool) {
	res := replicaKeysHeld
	if written {
		res = replicaKeysNew
	}
	r.n.metrics.ReplicaKeys.WithLabelValues(res).Inc()
}

// shortDuration is d as "24h" or "1h30m" rather than "24h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// replicaActor is rp as the audit log names it.
func replicaActor(rp ReplicaPrincipal) string { return "replica:" + rp.ID }

// registerEncOnly is Register of a replica of a build before signing
// keys: encKey alone.
func (r *Replicas) registerEncOnly(ctx context.Context, rp ReplicaPrincipal, encKey json.RawMessage) (ReplicaStatus, error) {
	enc, _, err := trust.ParsePublicJWK(encKey)
	if err != nil {
		return ReplicaStatus{}, Errorf(EInvalid, "enc_key is not a P-256 public JWK")
	}
	canon, err := trust.EncJWK(enc)
	if err != nil {
		return ReplicaStatus{}, internal("register replica", err)
	}
	x, written, err := r.a.db.RegisterReplicaEncKey(ctx, rp.ID, string(canon), r.a.now(),
		r.a.auditEntry(replicaActor(rp), "replica.keys", rp.ID, map[string]string{"enc_key_only": "true"}))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ReplicaStatus{}, Errorf(EUnauthorized, "unknown replica token")
	case errors.Is(err, store.ErrConflict):
		r.n.metrics.ReplicaKeys.WithLabelValues(replicaKeysConflict).Inc()
		return ReplicaStatus{}, Errorf(EInvalid, "sig_key is required: this replica's build is older than its home node's, "+
			"and its enc key is not the one home held before the upgrade; upgrade it")
	case err != nil:
		return ReplicaStatus{}, internal("register replica", err)
	}
	r.countKeys(written)
	return r.status(x), nil
}

// Status is what home holds of rp (GET /v1/replica/status: 'hcnode
// check' on a replica, and its start, ask it). It writes nothing.
func (r *Replicas) Status(ctx context.Context, rp ReplicaPrincipal) (ReplicaStatus, error) {
	x, err := r.a.db.ReplicaByID(ctx, rp.ID)
	if errors.Is(err, store.ErrNotFound) {
		return ReplicaStatus{}, Errorf(EUnauthorized, "unknown replica token")
	}
	if err != nil {
		return ReplicaStatus{}, internal("replica status", err)
	}
	return r.status(x), nil
}

// ReplicaScanner is one of the province's scanners as a replica learns
// it: the SHA-256 of its token (base64url), never the token.
type ReplicaScanner struct {
	ID        string `json:"id"`
	Place     string `json:"place"`
	Scope     string `json:"scope"`
	TokenHash string `json:"token_sha256"`
}

// ReplicaSync is what a replica receives from its home node every
// replica.refresh: the province's registered scanners, every content key
// the home node holds (its own and those granted by peers), sealed to the
// replica's registered key, the seq of the last revocation the home node
// committed and the version of its keyset. The replica learns what they
// say over NATS only; these tell it when it is behind.
type ReplicaSync struct {
	Province      string           `json:"province"`
	Time          time.Time        `json:"time"`
	Scanners      []ReplicaScanner `json:"scanners"`
	ContentKeys   string           `json:"content_keys"` // compact JWE, trust.SealContentKeys
	RevocationSeq uint64           `json:"revocation_seq"`
	KeysetVersion uint64           `json:"keyset_version"`
	// Tag is the answer's HTTP entity tag (syncTag), sent as the ETag
	// header; the replica sends it back as If-None-Match.
	Tag string `json:"-"`
}

// syncEpoch is drawn once per process and enters every sync's tag, so
// that a tag a replica holds from before a restart (a restore, say, that
// put an older scanner set version back) never matches one drawn after.
var syncEpoch = func() [16]byte {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return b
}()

// Sync answers a replica's refresh. A replica sends back the Tag of the
// last answer it installed as known; while nothing that answer carried
// has changed (the scanner set's version, the content keys, the
// revocation seq, the keyset version, the replica's registered key),
// Sync returns only the tag, unchanged true, without reading the
// scanners or sealing the keys: a province's replicas ask every
// replica.refresh, and its scanner list is megabytes.
//
// It records the replica's last_seen at most once per
// replicaSeenEvery (see replicaSeen); between, it only reads.
func (r *Replicas) Sync(ctx context.Context, rp ReplicaPrincipal, known string) (out ReplicaSync, unchanged bool, err error) {
	now := r.n.now()
	var x store.Replica
	if r.seen.due(rp.ID, now) {
		x, err = r.n.db.TouchReplica(ctx, rp.ID, now)
		if err != nil {
			r.seen.forget(rp.ID)
		}
	} else {
		x, err = r.n.db.ReplicaByID(ctx, rp.ID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return ReplicaSync{}, false, Errorf(EUnauthorized, "unknown replica token")
	}
	if err != nil {
		return ReplicaSync{}, false, internal("replica sync", err)
	}
	if !x.SyncTrusted() {
		return ReplicaSync{}, false, unconfirmed(x)
	}
	held := x.EncKey
	pub, _, err := trust.ParsePublicJWK(json.RawMessage(held))
	if err != nil {
		return ReplicaSync{}, false, internal("replica sync", err)
	}
	// The version is read before the scanners: a change landing between
	// the two is sent under the older tag, and sent again at the next
	// refresh, never missed.
	version, err := r.n.db.ScannerSetVersion(ctx)
	if err != nil {
		return ReplicaSync{}, false, internal("replica sync", err)
	}
	out = ReplicaSync{Province: r.n.cfg.Province, Time: now, RevocationSeq: r.n.state.RevocationSeq(r.n.cfg.Province)}
	if ks := r.n.state.Keyset(r.n.cfg.Province); ks != nil {
		out.KeysetVersion = ks.Version
	}
	var cks []trust.ContentKey
	for _, byID := range r.n.state.Snapshot().ContentKeys {
		for _, ck := range byID {
			cks = append(cks, ck)
		}
	}
	out.Tag = syncTag(out, held, version, cks)
	if known != "" && known == out.Tag {
		return ReplicaSync{Tag: out.Tag}, true, nil
	}
	toks, err := r.n.db.ScannerTokens(ctx)
	if err != nil {
		return ReplicaSync{}, false, internal("replica sync", err)
	}
	out.Scanners = make([]ReplicaScanner, 0, len(toks))
	for _, t := range toks {
		out.Scanners = append(out.Scanners, ReplicaScanner{ID: t.ScannerID, Place: t.Place, Scope: t.Scope,
			TokenHash: base64.RawURLEncoding.EncodeToString(t.Hash)})
	}
	if out.ContentKeys, err = trust.SealContentKeys(cks, pub); err != nil {
		return ReplicaSync{}, false, internal("replica sync", err)
	}
	return out, false, nil
}

// syncTag is the HTTP entity tag of a sync: a hash of what it carries
// (but the time, and the sealing, which differs at every sealing), under
// syncEpoch. The content keys enter it whole: a key replaced under the
// same id changes it too.
func syncTag(s ReplicaSync, encKey string, scannerSet uint64, cks []trust.ContentKey) string {
	h := sha256.New()
	h.Write(syncEpoch[:])
	for _, f := range []string{s.Province, encKey} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(f))))
		h.Write([]byte(f))
	}
	for _, v := range []uint64{scannerSet, s.RevocationSeq, s.KeysetVersion} {
		h.Write(binary.BigEndian.AppendUint64(nil, v))
	}
	ids := make([]string, 0, len(cks))
	byID := make(map[string]trust.ContentKey, len(cks))
	for _, ck := range cks {
		ids = append(ids, ck.ID)
		byID[ck.ID] = ck
	}
	slices.Sort(ids)
	for _, id := range ids {
		ck := byID[id]
		for _, f := range [][]byte{[]byte(ck.ID), ck.Key} {
			h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(f))))
			h.Write(f)
		}
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(ck.NotBefore.UnixNano())))
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(ck.Expires.UnixNano())))
	}
	return `"` + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18]) + `"`
}

// ScannerTokenHash is the key a replica looks a scanner token up by: the
// base64url SHA-256 that ReplicaScanner.TokenHash carries.
func ScannerTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// replicaSeenEvery is how often at most Sync writes a replica's
// last_seen. A replica asks every replica.refresh (2 s by default), most
// often to hear 304; last_seen is read only by operators ('hcnode replica
// list', GET /v1/replicas), for whom a minute is precise enough.
const replicaSeenEvery = time.Minute

// replicaSeen remembers, in memory, when each replica's last_seen was
// last written, so that Sync writes it at most once per
// replicaSeenEvery. A restart forgets it: the first sync after one
// writes.
type replicaSeen struct {
	mu      sync.Mutex
	written map[string]time.Time // replica id: last write of its last_seen
}

// due reports whether id's last_seen is to be written at now, and if so
// notes it written: of concurrent syncs of one replica, one writes. Past
// 1024 entries, those older than replicaSeenEvery are dropped, so that
// replicas removed (their token refused before Sync) do not pile up.
func (s *replicaSeen) due(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.written[id]; ok && now.Sub(last) < replicaSeenEvery && !now.Before(last) {
		return false
	}
	if s.written == nil {
		s.written = make(map[string]time.Time)
	}
	if len(s.written) >= 1024 {
		for k, t := range s.written {
			if now.Sub(t) >= replicaSeenEvery {
				delete(s.written, k)
			}
		}
	}
	s.written[id] = now
	return true
}

// forget drops id, so that its next sync writes (after a failed write).
func (s *replicaSeen) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.written, id)
}
