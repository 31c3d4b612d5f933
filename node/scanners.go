package node

import (
	"context"
	"errors"
	"strings"

	"github.com/hcfed/hcfed/node/store"
)

// ScannerScope is the only scope a scanner can have: it sees the status
// colour and the masked name, never more.
const ScannerScope = "status"

// NewScanner is a scanner registration: its token is shown once.
type NewScanner struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// addScanner registers a scanning device (see Node.AddScanner).
func (a *access) addScanner(ctx context.Context, p Principal, name, place string) (NewScanner, error) {
	if err := Permit(p, OpAddScanner, ""); err != nil {
		return NewScanner{}, err
	}
	if err := checkText("name", name, maxScannerNameLen, false); err != nil {
		return NewScanner{}, err
	}
	if err := checkText("place", place, maxScannerPlaceLen, false); err != nil {
		return NewScanner{}, err
	}
	name, place = strings.TrimSpace(name), strings.TrimSpace(place)
	if name == "" || len(name) > 100 || len(place) > 50 {
		return NewScanner{}, Errorf(EInvalid, "name is required (≤100 bytes), place ≤50 bytes")
	}
	id, err := randomID(a.rand, "sc_")
	if err != nil {
		return NewScanner{}, internal("add scanner", err)
	}
	tok, hash, err := a.newToken()
	if err != nil {
		return NewScanner{}, internal("add scanner", err)
	}
	now := a.now()
	err = a.db.AddScanner(ctx, store.Scanner{ID: id, Name: name, Place: place, Scope: ScannerScope, Created: now},
		store.Token{Hash: hash, Role: string(RoleScanner), ScannerID: id, Label: name, Created: now},
		a.auditEntry(p.Actor(), "scanner.add", id, map[string]any{"place": place}))
	a.tokenCreated(hash)
	if err != nil {
		return NewScanner{}, internal("add scanner", err)
	}
	return NewScanner{ID: id, Token: tok}, nil
}

// listScanners lists registered scanners (see Node.Scanners).
func (a *access) listScanners(ctx context.Context, p Principal) ([]store.Scanner, error) {
	if err := require(p, RoleOperator); err != nil {
		return nil, err
	}
	return a.db.Scanners(ctx)
}

// removeScanner disables a scanner and evicts its cached token (see
// Node.RemoveScanner).
func (a *access) removeScanner(ctx context.Context, p Principal, id string) error {
	if err := require(p, RoleOperator); err != nil {
		return err
	}
	err := a.db.RemoveScanner(ctx, id, a.auditEntry(p.Actor(), "scanner.remove", id, nil))
	a.tokens.forget(RoleScanner, id)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(ENotFound, "no such scanner")
	}
	if err != nil {
		return internal("remove scanner", err)
	}
	return nil
}
