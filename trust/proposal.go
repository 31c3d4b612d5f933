package trust

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Change is one edit an operator proposes to the trust list.
type Change struct {
	Op       string          // add-member, suspend, reinstate, remove, set-root, add-operator, remove-operator, threshold, expires, federation
	ID       string          // member or operator id
	Name     string          // for add-member, add-operator
	Key      json.RawMessage // root JWK (add-member, set-root) or operator JWK (add-operator)
	N        int             // threshold
	Duration time.Duration   // expires: validity from now
	Value    string          // federation id
}

// Propose returns the next version of cur with changes applied, issued at
// now. cur may be the zero TrustList to bootstrap a federation. The result
// is checked for structure (unique ids, valid keys, threshold within the
// operator count) so a proposal that could never be accepted is refused
// before anyone signs it.
func Propose(cur TrustList, changes []Change, now time.Time) (TrustList, error) {
	next := cur
	next.Operators = slices.Clone(cur.Operators)
	next.Members = slices.Clone(cur.Members)
	next.Version = cur.Version + 1
	next.IssuedAt = now.Unix()
	if next.Expires <= next.IssuedAt {
		next.Expires = now.Add(90 * 24 * time.Hour).Unix()
	}
	for _, c := range changes {
		if err := next.apply(c, now); err != nil {
			return TrustList{}, err
		}
	}
	sort.Slice(next.Members, func(i, j int) bool { return next.Members[i].ID < next.Members[j].ID })
	sort.Slice(next.Operators, func(i, j int) bool { return next.Operators[i].ID < next.Operators[j].ID })
	p := &ParsedTrustList{TrustList: next}
	if err := p.index(); err != nil {
		return TrustList{}, err
	}
	return next, nil
}

func (t *TrustList) member(id string) (*MemberEntry, error) {
	for i := range t.Members {
		if t.Members[i].ID == id {
			return &t.Members[i], nil
		}
	}
	return nil, fmt.Errorf("no member %s", id)
}

func (t *TrustList) apply(c Change, now time.Time) error {
	switch c.Op {
	case "federation":
		t.Federation = c.Value
	case "add-member":
		if _, err := t.member(c.ID); err == nil {
			return fmt.Errorf("member %s already listed", c.ID)
		}
		t.Members = append(t.Members, MemberEntry{ID: c.ID, Name: c.Name, Root: c.Key, Status: MemberActive})
	case "suspend", "reinstate", "remove":
		m, err := t.member(c.ID)
		if err != nil {
			return err
		}
		m.Status = map[string]MemberStatus{"suspend": MemberSuspended, "reinstate": MemberActive, "remove": MemberRemoved}[c.Op]
	case "set-root":
		m, err := t.member(c.ID)
		if err != nil {
			return err
		}
		m.Root = c.Key
	case "add-operator":
		for _, o := range t.Operators {
			if o.ID == c.ID {
				return fmt.Errorf("operator %s already listed", c.ID)
			}
		}
		t.Operators = append(t.Operators, Operator{ID: c.ID, Name: c.Name, JWK: c.Key})
	case "remove-operator":
		i := slices.IndexFunc(t.Operators, func(o Operator) bool { return o.ID == c.ID })
		if i < 0 {
			return fmt.Errorf("no operator %s", c.ID)
		}
		t.Operators = slices.Delete(t.Operators, i, i+1)
	case "threshold":
		t.Threshold = c.N
	case "expires":
		t.Expires = now.Add(c.Duration).Unix()
	default:
		return fmt.Errorf("unknown change %q", c.Op)
	}
	return nil
}

// Diff describes, one line each, how next differs from cur: what an
// operator is asked to sign.
func Diff(cur, next TrustList) []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	if cur.Federation != next.Federation {
		add("federation: %q → %q", cur.Federation, next.Federation)
	}
	if cur.Version != next.Version {
		add("version: %d → %d", cur.Version, next.Version)
	}
	if cur.Expires != next.Expires {
		add("expires: %s → %s", unixDate(cur.Expires), unixDate(next.Expires))
	}
	if cur.Threshold != next.Threshold {
		add("threshold: %d → %d operators must sign", cur.Threshold, next.Threshold)
	}
	curOps := map[string]Operator{}
	for _, o := range cur.Operators {
		curOps[o.ID] = o
	}
	for _, o := range next.Operators {
		old, ok := curOps[o.ID]
		switch {
		case !ok:
			add("operator added: %s %s (key %s)", o.ID, o.Name, jwkKID(o.JWK))
		case jwkKID(old.JWK) != jwkKID(o.JWK):
			add("operator %s key: %s → %s", o.ID, jwkKID(old.JWK), jwkKID(o.JWK))
		}
		delete(curOps, o.ID)
	}
	for id := range curOps {
		add("operator removed: %s", id)
	}
	curMembers := map[string]MemberEntry{}
	for _, m := range cur.Members {
		curMembers[m.ID] = m
	}
	for _, m := range next.Members {
		old, ok := curMembers[m.ID]
		switch {
		case !ok:
			add("member added: %s %s, status %s, root key %s", m.ID, m.Name, m.Status, jwkKID(m.Root))
		default:
			if old.Status != m.Status {
				add("member %s %s: %s → %s", m.ID, m.Name, old.Status, m.Status)
			}
			if jwkKID(old.Root) != jwkKID(m.Root) {
				add("member %s %s ROOT KEY: %s → %s", m.ID, m.Name, jwkKID(old.Root), jwkKID(m.Root))
			}
		}
		delete(curMembers, m.ID)
	}
	for id := range curMembers {
		add("member dropped from the list: %s", id)
	}
	return out
}

func unixDate(s int64) string {
	if s == 0 {
		return "-"
	}
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}

// jwkKID returns the thumbprint of a JWK, or "invalid".
func jwkKID(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "-"
	}
	_, kid, err := ParsePublicJWK(raw)
	if err != nil {
		return "invalid"
	}
	return kid
}

// DecodeTrustList reads an unsigned trust list payload (a proposal).
func DecodeTrustList(b []byte) (TrustList, error) {
	var t TrustList
	if err := decodeStrict(b, &t); err != nil {
		return TrustList{}, err
	}
	return t, nil
}
