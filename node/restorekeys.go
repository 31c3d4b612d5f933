package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// A backup holds the signing keys of its day. Keys made after it (the
// schedule rotates weekly, operators rotate by hand) are lost with the
// database it replaces, private halves and all, but the codes they
// signed are in residents' hands, paper codes for up to a week, and the
// federation's keyset lists them. Reconciliation signs the keyset again
// from the restored keys (resign); without those lost keys in it, every
// code they signed answered unknown_key everywhere at once.
//
// So resign keeps, from the keyset the federation holds, the public half
// of each signing key the restored database lacks, retired at the
// restore if it was active (a compromised one stays compromised; one
// that was only next signed nothing and goes), under lostKeysMeta, and
// every keyset the node signs lists them until each expires.

// lostKeysMeta is the meta row holding the lost keys, a JSON array of
// keyset entries.
const lostKeysMeta = "keys_lost_in_restore"

// lostKey is a signing key the node holds the public half of only.
type lostKey struct {
	kid   string
	entry trust.KeysetEntry
}

// loadLost reads the lost keys. Callers hold mu.
func (ks *keySchedule) loadLost(ctx context.Context) error {
	raw, err := ks.db.GetMeta(ctx, lostKeysMeta)
	if errors.Is(err, store.ErrNotFound) || (err == nil && raw == "") {
		ks.lost = nil
		return nil
	}
	if err != nil {
		return err
	}
	var entries []trust.KeysetEntry
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		return fmt.Errorf("%s: %w", lostKeysMeta, err)
	}
	ks.lost = ks.lost[:0]
	for _, e := range entries {
		_, kid, err := trust.ParsePublicJWK(e.JWK)
		if err != nil {
			return fmt.Errorf("%s: %w", lostKeysMeta, err)
		}
		ks.lost = append(ks.lost, lostKey{kid: kid, entry: e})
	}
	return nil
}

// keepLost records in kc the keys of held, the keyset the federation
// holds, that kc's keyring lacks, beside those kept already.
func (ks *keySchedule) keepLost(kc *keyChange, held *trust.VerifiedKeyset) error {
	have := heldKIDs(kc)
	kept := append([]lostKey(nil), ks.lostIn(kc)...)
	for _, l := range kept {
		have[l.kid] = true
	}
	for kid, k := range held.Signing {
		if have[kid] || !k.Expires.After(kc.now) {
			continue
		}
		lk := *k
		switch k.State {
		case trust.KeyNext:
			continue // it signed nothing
		case trust.KeyActive:
			lk.State, lk.RetiredAt = trust.KeyRetired, kc.now
		}
		e, err := trust.KeysetEntryFor(&lk)
		if err != nil {
			return err
		}
		kept = append(kept, lostKey{kid: kid, entry: e})
		ks.log.Warn("the restored database lacks a signing key made after the backup: its public half stays in the keyset "+
			"so that the codes it signed verify until they expire; if the machine it was made on may have been taken, "+
			"mark it compromised (hcnode keys compromise KID)", "kid", kid, "state", string(lk.State), "until", lk.Expires.UTC())
		kc.audit(ks.auditEntry("system", "key.kept_public", kid, map[string]any{"state": string(lk.State), "expires": lk.Expires.Unix()}))
	}
	kc.lost = &kept
	return nil
}

// lostEntries returns the lost keys a keyset signed in kc lists (those
// not expired at kc.now nor held again), and records in kc the row
// without the others when any went.
func (ks *keySchedule) lostEntries(kc *keyChange) ([]lostKey, error) {
	have := heldKIDs(kc)
	var out []lostKey
	for _, l := range ks.lostIn(kc) {
		if !have[l.kid] && time.Unix(l.entry.Expires, 0).After(kc.now) {
			out = append(out, l)
		}
	}
	if kc.lost == nil && len(out) == len(ks.lost) {
		return out, nil
	}
	entries := make([]trust.KeysetEntry, len(out))
	for i, l := range out {
		entries[i] = l.entry
	}
	raw, err := json.Marshal(entries)
	if err != nil {
		return nil, err
	}
	if kc.w.Meta == nil {
		kc.w.Meta = map[string]string{}
	}
	kc.w.Meta[lostKeysMeta] = string(raw)
	return out, nil
}

// compromiseLost marks the lost key kid compromised in kc, reporting
// whether the node keeps such a key: the machine a restore replaced may
// have been taken with its keys. Callers hold mu.
func (ks *keySchedule) compromiseLost(kc *keyChange, kid string) bool {
	kept := append([]lostKey(nil), ks.lostIn(kc)...)
	for i := range kept {
		if kept[i].kid == kid {
			kept[i].entry.State = trust.KeyCompromised
			kc.lost = &kept
			return true
		}
	}
	return false
}

// lostCompromised reports whether the lost key kid is marked compromised
// already. Callers hold mu.
func (ks *keySchedule) lostCompromised(kc *keyChange, kid string) bool {
	for _, l := range ks.lostIn(kc) {
		if l.kid == kid {
			return l.entry.State == trust.KeyCompromised
		}
	}
	return false
}

// lostIn is the lost keys as kc sees them: those kc replaces, if it does,
// else the schedule's. Callers hold mu.
func (ks *keySchedule) lostIn(kc *keyChange) []lostKey {
	if kc.lost != nil {
		return *kc.lost
	}
	return ks.lost
}

// heldKIDs is the set of the signing keys kc's keyring holds.
func heldKIDs(kc *keyChange) map[string]bool {
	have := make(map[string]bool, len(kc.kr.sign))
	for _, k := range kc.kr.sign {
		have[k.row.KID] = true
	}
	return have
}
