package node

import (
	"context"
	"encoding/json"

	"github.com/hcfed/hcfed/node/store"
)

// MaxReceiptPlacesPerDay bounds the kinds of place at which the home node
// records one of its codes verified in one other province on one day. A
// traveller passes a few kinds in a day (the pages name nine); a member
// naming a code it scanned at ever new "kinds" would otherwise add an
// audit entry each, which every listing of the resident's history reads.
const MaxReceiptPlacesPerDay = 16

// receiptPlacesRead bounds the entries of one province about one code
// read to learn what it recorded already: newest first, far more than
// the days a receipt may name (trust.MaxReceiptAgeDays and the day
// itself) times MaxReceiptPlacesPerDay.
const receiptPlacesRead = 8 * MaxReceiptPlacesPerDay

// receiptPlaces is what the audit log holds, and what one receipt adds,
// of verifications by one province (actor, "peer:<province>": a receipt
// comes from one) of this node's codes: by target (a hashed code id),
// the kinds of place of each day.
type receiptPlaces struct {
	actor string
	codes map[string]map[string]map[string]bool
}

// newReceiptPlaces holds the verifications of one receipt from actor.
func newReceiptPlaces(actor string) receiptPlaces {
	return receiptPlaces{actor: actor, codes: map[string]map[string]map[string]bool{}}
}

// take reports whether a verification of the code target on day at
// place is to be recorded: not recorded before (in the audit log, or
// earlier in the same receipt), and within MaxReceiptPlacesPerDay kinds
// of place for that code that day. A taken one counts as recorded for
// the calls that follow.
func (rp receiptPlaces) take(ctx context.Context, db *store.DB, target, day, place string) (bool, error) {
	days, ok := rp.codes[target]
	if !ok {
		details, err := db.AuditDetailsOf(ctx, actionPeerVerify, rp.actor, target, receiptPlacesRead)
		if err != nil {
			return false, err
		}
		days = map[string]map[string]bool{}
		for _, raw := range details {
			var d peerVerifyDetail
			if json.Unmarshal([]byte(raw), &d) != nil {
				continue
			}
			if held, _, err := d.day(); err == nil {
				addPlace(days, held, d.Place)
			}
		}
		rp.codes[target] = days
	}
	if places := days[day]; places[place] || len(places) >= MaxReceiptPlacesPerDay {
		return false, nil
	}
	addPlace(days, day, place)
	return true, nil
}

// addPlace adds place to the kinds of place of day.
func addPlace(days map[string]map[string]bool, day, place string) {
	if days[day] == nil {
		days[day] = map[string]bool{}
	}
	days[day][place] = true
}
