// What the replica last heard from home of its keys, kept in replica.db
// for 'hcnode check' on the replica's machine: which key sets home holds
// unconfirmed is known only at home, but when home last answered, and
// whether it trusted these keys then, is known here.

package replica

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hcfed/hcfed/node/store"
)

// HomeViewMeta is the replica database's setting holding the HomeView.
const HomeViewMeta = "home.view"

// What home said of the replica's keys (HomeView.Keys), besides the code
// of a refusal (replica_keys_limit, conflict).
const (
	KeysTrusted       = "trusted"
	KeysGrandfathered = "grandfathered"
	KeysUnconfirmed   = "unconfirmed"
)

// homeViewEvery is how often at most the time of the last refresh is
// written: a replica refreshes every replica.refresh (2 s by default), and
// an operator reading 'hcnode check' needs the minute.
const homeViewEvery = time.Minute

// HomeView is what the replica last heard from home of its keys: the
// fingerprint of the keys it asked about, its name at home, what home
// said of them (Keys) and when (Said), and when home last answered a
// refresh (Refreshed, written at most once a minute; zero if never).
type HomeView struct {
	Fingerprint string    `json:"fingerprint"`
	Name        string    `json:"name,omitempty"`
	Keys        string    `json:"keys"`
	Said        time.Time `json:"said"`
	Refreshed   time.Time `json:"refreshed,omitzero"`
}

// ReadHomeView reads the HomeView a replica database at path holds,
// read-only, for a preflight; ok false if it holds none (a replica that
// never reached home, or of a build before it).
func ReadHomeView(ctx context.Context, path string) (v HomeView, ok bool, err error) {
	raw, err := store.ReplicaMetaReadOnly(ctx, path, HomeViewMeta)
	if errors.Is(err, store.ErrNotFound) {
		return HomeView{}, false, nil
	}
	if err != nil {
		return HomeView{}, false, err
	}
	return v, true, json.Unmarshal(raw, &v)
}

// loadHomeView reads the HomeView held, so that a restart keeps the time
// of the last refresh; none (or one it cannot read) starts empty.
func (r *Replica) loadHomeView(ctx context.Context) {
	raw, err := r.db.Meta(ctx, HomeViewMeta)
	if err == nil {
		_ = json.Unmarshal(raw, &r.view)
	}
}

// noteKeys records what home said of the replica's keys at now: keys
// (KeysTrusted ...) under name ("" keeps the name held). Written only
// when it changes. Only the refresh loop calls it.
func (r *Replica) noteKeys(ctx context.Context, keys, name string, now time.Time) {
	if name == "" {
		name = r.view.Name
	}
	if r.view.Fingerprint == r.fp && r.view.Keys == keys && r.view.Name == name {
		return
	}
	r.view.Fingerprint, r.view.Keys, r.view.Name, r.view.Said = r.fp, keys, name, now
	r.saveHomeView(ctx)
}

// noteRefreshed records that home answered a refresh at now, at most
// once per homeViewEvery. Only the refresh loop calls it.
func (r *Replica) noteRefreshed(ctx context.Context, now time.Time) {
	if now.Sub(r.view.Refreshed) < homeViewEvery && !now.Before(r.view.Refreshed) {
		return
	}
	r.view.Refreshed = now
	r.saveHomeView(ctx)
}

func (r *Replica) saveHomeView(ctx context.Context) {
	raw, err := json.Marshal(r.view)
	if err == nil {
		err = r.db.SetMeta(ctx, HomeViewMeta, raw)
	}
	if err != nil && ctx.Err() == nil {
		r.log.Warn("could not record home's answer for 'hcnode check'; the replica serves as before", "err", err)
	}
}
