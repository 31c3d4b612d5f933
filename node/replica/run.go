package replica

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/trust"
)

// Run refreshes the scanners and content keys from the home node every
// replica.refresh, and sends the queued verification records every
// replica.send_every, until ctx ends.
func (r *Replica) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.sendLoop(ctx)
	}()
	r.refreshLoop(ctx)
	<-done
}

func (r *Replica) refreshLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Replica.Refresh)
	defer t.Stop()
	registered, failing, tooLarge := false, false, false
	for {
		err := r.refresh(ctx, &registered)
		switch {
		case err != nil && ctx.Err() == nil:
			r.failures.Inc()
			if big := (*AnswerTooLargeError)(nil); errors.As(err, &big) {
				r.tooLarge.Inc()
				if !tooLarge {
					r.log.Error("the home node's answer is over this replica's limit; its scanners are not updated",
						"limit_bytes", big.Limit, "constant", "maxHomeResponse", "err", err)
				}
				tooLarge = true
			} else {
				tooLarge = false
			}
			if !failing {
				r.log.Warn("refresh from the home node failed; scanners stay as they were until replica.max_stale",
					"err", err, "max_stale", r.cfg.Replica.MaxStale.String())
			}
			failing = true
		case err == nil && failing:
			r.log.Info("refresh from the home node works again")
			failing, tooLarge = false, false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh registers the replica's keys until home trusts them (an admin
// confirmed their fingerprint), then fetches the scanners and content
// keys and installs them, or, when home answers 304 (nothing changed
// since the last answer installed), keeps them; both count as contact
// with home (replica.max_stale). registered is whether home trusted the
// keys at the last registration; a sync refused as replica_unconfirmed
// (an admin confirmed another fingerprint since) registers again.
func (r *Replica) refresh(ctx context.Context, registered *bool) error {
	if !*registered {
		if err := r.register(ctx); err != nil {
			return err
		}
		*registered = true
	}
	var s node.ReplicaSync
	tag, unchanged, err := r.home.sync(ctx, r.last.tag, &s)
	if he := (*HomeError)(nil); errors.As(err, &he) && he.Code == string(node.EReplicaUnconfirmed) {
		*registered = false
		r.setUnconfirmed("")
		r.noteKeys(ctx, KeysUnconfirmed, "", r.now())
	}
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	now := r.now()
	if unchanged {
		// Nothing home would send has changed: the scanners stay, the
		// content keys are set again only to drop those that expired.
		r.unchanged.Inc()
		r.state.SetContentKeys(r.last.cks, now)
		r.noteRefreshed(ctx, now)
		r.noteHome(r.last.revocationSeq, r.last.keysetVersion, now)
		return nil
	}
	if s.Province != r.cfg.Province {
		return fmt.Errorf("sync: %w", r.otherProvince(s.Province))
	}
	cks, err := trust.OpenContentKeys(s.ContentKeys, r.enc)
	if err != nil {
		return fmt.Errorf("sync: content keys: %w", err)
	}
	set := make(map[string]node.Principal, len(s.Scanners))
	for _, sc := range s.Scanners {
		if sc.Scope != node.ScannerScope {
			continue // a scope this build does not know grants nothing
		}
		set[sc.TokenHash] = node.Principal{Role: node.RoleScanner, ScannerID: sc.ID, Place: sc.Place}
	}
	r.state.SetContentKeys(cks, now)
	r.scanners.Store(&set)
	r.last = lastSync{tag: tag, cks: cks, revocationSeq: s.RevocationSeq, keysetVersion: s.KeysetVersion}
	r.noteRefreshed(ctx, now)
	r.noteHome(s.RevocationSeq, s.KeysetVersion, now)
	return nil
}

// register registers the replica's enc and signing keys at home. It
// returns nil if home trusts them, or sends the scanners and content keys
// while their fingerprint awaits confirmation (grandfathered: the enc key
// is one home held before the upgrade; the records wait); else an error
// saying what to do, which Ready says too (replica_unconfirmed).
func (r *Replica) register(ctx context.Context) error {
	enc, err := trust.EncJWK(&r.enc.PublicKey)
	if err != nil {
		return err
	}
	sig, err := trust.SigJWK(&r.sig.PublicKey)
	if err != nil {
		return err
	}
	var st node.ReplicaStatus
	err = r.home.do(ctx, http.MethodPost, RegisterPath, RegisterRequest{EncKey: enc, SigKey: sig}, &st)
	if he := (*HomeError)(nil); errors.As(err, &he) && he.Status == http.StatusConflict {
		// Home trusts other keys for this replica, or holds as many
		// unconfirmed ones as it takes (replica_keys_limit): an admin
		// confirms this one's, taken at the next registration.
		r.setUnconfirmed("")
		r.noteKeys(ctx, he.Code, "", r.now())
	}
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if st.Province != r.cfg.Province {
		return fmt.Errorf("register: %w", r.otherProvince(st.Province))
	}
	if !st.Trusted && st.Grandfathered {
		// Home held this enc key before the upgrade: it sends the
		// scanners and content keys (sealed to it) and the replica
		// serves; its records wait here until the fingerprint is
		// confirmed (sendLoop retries them).
		r.unconfirmed.Store(nil)
		r.noteKeys(ctx, KeysGrandfathered, st.Name, r.now())
		r.log.Warn("home serves this replica on the enc key it held before the upgrade, but its keys' fingerprint awaits "+
			"confirmation: verification records are held here until an admin runs 'hcnode replica confirm "+
			cmp.Or(st.Name, "NAME")+" "+r.fp+"' at home", "fingerprint", r.fp)
		return nil
	}
	if !st.Trusted {
		r.setUnconfirmed(st.Name)
		r.noteKeys(ctx, KeysUnconfirmed, st.Name, r.now())
		return fmt.Errorf("register: %s", *r.unconfirmed.Load())
	}
	r.unconfirmed.Store(nil)
	r.noteKeys(ctx, KeysTrusted, st.Name, r.now())
	return nil
}

// setUnconfirmed notes that home does not trust this replica's keys,
// registered under name at home ("" if not known).
func (r *Replica) setUnconfirmed(name string) {
	if name == "" {
		name = "NAME"
	}
	msg := fmt.Sprintf("home does not trust this replica's keys yet (replica_unconfirmed): at home, run 'hcnode replica confirm %s %s' (admin), "+
		"having compared that fingerprint with the one 'hcnode check' prints here; it gets no content key and refuses every scanner until then",
		name, r.fp)
	r.unconfirmed.Store(&msg)
}

// otherProvince is the refusal of a home node of province home, another
// than the replica's.
func (r *Replica) otherProvince(home string) error {
	return &OtherProvinceError{Home: r.cfg.Replica.Home, HomeProvince: home, Province: r.cfg.Province}
}

// OtherProvinceError is a home node at replica.home of another province
// than the replica's own.
type OtherProvinceError struct {
	Home, HomeProvince, Province string
}

func (e *OtherProvinceError) Error() string {
	return fmt.Sprintf("replica.home (%s) is the home node of province %s, and this replica's province is %s: "+
		"set replica.home to province %s's home node (or province to %s, if that is the replica's)",
		e.Home, e.HomeProvince, e.Province, e.Province, e.HomeProvince)
}

// noteHome notes the revocation seq and keyset version home reported (see
// noteHome), and that home answered at now.
func (r *Replica) noteHome(revocationSeq, keysetVersion uint64, now time.Time) {
	noteHome(&r.behindRevocations, revocationSeq, r.heldRevocationSeq(), now)
	noteHome(&r.behindKeyset, keysetVersion, r.heldKeysetVersion(), now)
	r.synced.Store(now.UnixNano())
}

// sendBackoff spaces attempts to send records while home is unreachable.
var sendBackoff = backoff.Policy{Min: time.Second, Max: 30 * time.Second}

func (r *Replica) sendLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Replica.SendEvery)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			n, err := r.sendBatch(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.failures.Inc()
				d := sendBackoff.Delay(failures)
				failures++
				r.log.Warn("verification records not sent home; retrying", "err", err, "retry_in", d.String())
				if !backoff.Wait(ctx, d) {
					return
				}
				continue
			}
			failures = 0
			if n < node.MaxReplicaRecords {
				break
			}
		}
	}
}

// sendBatch sends up to MaxReplicaRecords queued records and deletes them
// once home acknowledged them; it returns how many it sent.
func (r *Replica) sendBatch(ctx context.Context) (int, error) {
	out, err := r.db.Outbox(ctx, node.MaxReplicaRecords)
	if err != nil || len(out) == 0 {
		return 0, err
	}
	req := RecordsRequest{Records: make([]node.ReplicaRecord, 0, len(out))}
	ids := make([]string, len(out))
	for i, o := range out {
		var rec node.ReplicaRecord
		if err := json.Unmarshal(o.Body, &rec); err != nil {
			return 0, fmt.Errorf("queued record %s: %w", o.ID, err)
		}
		req.Records = append(req.Records, rec)
		ids[i] = o.ID
	}
	err = r.home.signed(ctx, RecordsPath, req, &RecordsAnswer{})
	if he := (*HomeError)(nil); errors.As(err, &he) && he.Status == http.StatusBadRequest {
		// Home refuses something in the batch (a record older than it
		// accepts, after a long outage): send each alone, and drop
		// only those it refuses alone, so one cannot hold the queue.
		return len(out), r.sendOneByOne(ctx, req.Records)
	}
	if err != nil {
		return 0, err
	}
	return len(out), r.db.Sent(ctx, ids)
}

// sendOneByOne sends records one request each, deleting each that home
// acknowledged or refused as invalid; a refusal is logged and counted.
func (r *Replica) sendOneByOne(ctx context.Context, recs []node.ReplicaRecord) error {
	for _, rec := range recs {
		err := r.home.signed(ctx, RecordsPath, RecordsRequest{Records: []node.ReplicaRecord{rec}}, &RecordsAnswer{})
		if he := (*HomeError)(nil); errors.As(err, &he) && he.Status == http.StatusBadRequest {
			r.refused.Inc()
			r.log.Error("home node refused a verification record; it is dropped", "record", rec.ID, "err", err)
		} else if err != nil {
			return err
		}
		if err := r.db.Sent(ctx, []string{rec.ID}); err != nil {
			return err
		}
	}
	return nil
}
