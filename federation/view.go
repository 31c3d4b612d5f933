package federation

import (
	"sort"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// heartbeatSeen is the latest verified heartbeat of a province.
type heartbeatSeen struct {
	hb trust.Heartbeat
	at time.Time // its signed issue time
}

// recordHeartbeat verifies a heartbeat with its province's signing keys
// and keeps it if it is newer than the one held.
func (s *Sync) recordHeartbeat(p string, raw []byte, now time.Time) (trust.Heartbeat, error) {
	ks := s.state.Keyset(p)
	if ks == nil {
		return trust.Heartbeat{}, &trust.Error{Reason: trust.ReasonUnknownIssuer, Detail: "no keyset for " + p}
	}
	var hb trust.Heartbeat
	if err := trust.ParseSigned(string(raw), trust.TypHeartbeat, p, ks.Signing, &hb); err != nil {
		return trust.Heartbeat{}, err
	}
	if hb.Issuer != p {
		return trust.Heartbeat{}, &trust.Error{Reason: trust.ReasonWrongSigner, Detail: "heartbeat of " + hb.Issuer + " under " + p}
	}
	at := time.Unix(hb.IssuedAt, 0)
	if at.After(now.Add(trust.ClockSkew)) {
		return trust.Heartbeat{}, &trust.Error{Reason: trust.ReasonNotYetValid, Detail: "heartbeat from the future"}
	}
	s.hbMu.Lock()
	defer s.hbMu.Unlock()
	if old, ok := s.heartbeats[p]; ok && hb.IssuedAt < old.hb.IssuedAt {
		return trust.Heartbeat{}, &trust.Error{Reason: trust.ReasonRollback, Detail: "heartbeat older than the one held"}
	}
	s.heartbeats[p] = heartbeatSeen{hb: hb, at: at}
	return hb, nil
}

// heartbeatFresh reports whether the heartbeat held of p was issued
// within staleAfter: a member View shows as current, not stale.
func (s *Sync) heartbeatFresh(p string) bool {
	s.hbMu.RLock()
	seen, ok := s.heartbeats[p]
	s.hbMu.RUnlock()
	return ok && s.now().Sub(seen.at) <= s.staleAfter
}

// FederationView is the federation as this node sees it: every member of
// the trust list held, what this node holds of it, and how fresh that is.
// It is the body of GET /v1/federation.
type FederationView struct {
	Self      string         `json:"self"`
	Ready     bool           `json:"ready"`
	Connected bool           `json:"connected"`
	TrustList *TrustListView `json:"trust_list"` // null: no trust list held
	Members   []MemberView   `json:"members"`
	// Warnings lists what an operator should act on, in plain English
	// words: expiries within the warning window, stale members.
	Warnings []string `json:"warnings"`
	// WarningDetails are the same warnings, in the same order, each with
	// its stable code and parameters beside its sentence: what a console
	// says in its own language. Add to both with AddWarnings.
	WarningDetails []Warning `json:"warning_details"`
	// SelfSuspended is set while the trust list held suspends this node's
	// own province: every node, this one included, refuses its codes.
	SelfSuspended bool `json:"self_suspended"`
}

// TrustListView describes the trust list held.
type TrustListView struct {
	Federation string    `json:"federation"`
	Version    uint64    `json:"version"`
	Expires    time.Time `json:"expires"`
	// ExpiresSoon is set within the warning window before Expires: a
	// federation whose trust list expires goes dark.
	ExpiresSoon bool `json:"expires_soon"`
	Threshold   int  `json:"threshold"`
}

// MemberView is one member province as this node sees it.
type MemberView struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	// KeysetVersion is 0 when no keyset of the member is held.
	KeysetVersion     uint64    `json:"keyset_version"`
	KeysetExpires     time.Time `json:"keyset_expires,omitzero"`
	KeysetExpiresSoon bool      `json:"keyset_expires_soon"`
	// KeyStates counts the member's signing keys by state (next, active,
	// retired, compromised) in the keyset held.
	KeyStates map[string]int `json:"key_states,omitempty"`
	// ContentKeys are the ids of the member's content keys held.
	ContentKeys []string `json:"content_keys"`
	// RevocationSeq is the last revocation seq of the member applied.
	RevocationSeq uint64 `json:"revocation_seq"`
	// RevocationLag is how many revocations the member's last heartbeat
	// reported beyond RevocationSeq.
	RevocationLag uint64 `json:"revocation_lag"`
	// Heartbeat is the member's last verified heartbeat; null if none.
	Heartbeat *HeartbeatView `json:"heartbeat"`
	// Stale is set when no heartbeat was seen within StaleAfter.
	Stale bool `json:"stale"`
	// RevocationsAsOf is the moment as of which this node holds every
	// revocation of the member: the last heartbeat (or snapshot) of it
	// naming a seq applied here. Absent when none is known, and for the
	// node's own province, whose revocations are its database's.
	RevocationsAsOf time.Time `json:"revocations_as_of,omitzero"`
	// RevocationsStale is set while RevocationsAsOf is unknown or older
	// than trust.revocations_max_age: the member's codes verify as
	// revocations_stale here.
	RevocationsStale bool `json:"revocations_stale"`
}

// HeartbeatView is a member's last heartbeat: what it reported of itself.
type HeartbeatView struct {
	At               time.Time `json:"at"`
	AgeSeconds       float64   `json:"age_seconds"`
	KeysetVersion    uint64    `json:"keyset_version"`
	ContentKeyID     string    `json:"content_key_id"`
	RevocationSeq    uint64    `json:"revocation_seq"`
	TrustListVersion uint64    `json:"trustlist_version"`
}

// View returns the federation as this node sees it now.
func (s *Sync) View() FederationView {
	now := s.now()
	v := FederationView{Self: s.self, Ready: s.Ready() == nil, Members: []MemberView{}, Warnings: []string{}, WarningDetails: []Warning{}}
	v.Connected = s.conn != nil && s.conn.Connected()
	tl := s.state.TrustList()
	if tl == nil {
		v.AddWarnings(Warning{Code: WarningNoTrustList, Text: "no trust list held"})
		return v
	}
	v.TrustList = &TrustListView{Federation: tl.Federation, Version: tl.Version, Expires: tl.ExpiresAt(),
		ExpiresSoon: now.Add(s.warnAhead).After(tl.ExpiresAt()), Threshold: tl.Threshold}
	version := warnVersion(tl.Version)
	if v.TrustList.ExpiresSoon {
		expires := warnTime(tl.ExpiresAt())
		v.AddWarnings(Warning{Code: WarningTrustListExpires, Params: map[string]string{"version": version, "expires": expires},
			Text: "trust list v" + version + " expires " + expires})
	}
	if m, ok := tl.Members[s.self]; ok && m.Status == trust.MemberSuspended {
		v.SelfSuspended = true
		v.AddWarnings(Warning{Code: WarningSelfSuspended, Params: map[string]string{"province": s.self, "version": version},
			Text: "this province (" + s.self + ") is suspended by trust list v" + version +
				": every node, this one included, refuses its codes (issuer_suspended)"})
	}
	snap := s.state.Snapshot()
	s.hbMu.RLock()
	defer s.hbMu.RUnlock()
	for id, m := range tl.Members {
		mv := s.memberView(id, m, now)
		mv.RevocationsAsOf, mv.RevocationsStale, _ = snap.RevocationsHeld(id, now)
		if mv.KeysetExpiresSoon {
			expires := warnTime(mv.KeysetExpires)
			v.AddWarnings(Warning{Code: WarningKeysetExpires, Params: map[string]string{"province": id, "expires": expires},
				Text: "keyset of " + id + " expires " + expires})
		}
		if mv.Stale && m.Status == trust.MemberActive {
			v.AddWarnings(Warning{Code: WarningNoHeartbeat, Params: map[string]string{"province": id},
				Text: "no recent heartbeat from " + id})
		}
		if mv.RevocationsStale && m.Status == trust.MemberActive && mv.KeysetVersion > 0 { // without a keyset its codes are unknown_key anyway
			v.AddWarnings(revocationsWarning(id, mv.RevocationsAsOf, snap.RevocationsMaxAge))
		}
		v.Members = append(v.Members, mv)
	}
	sort.Slice(v.Members, func(i, j int) bool { return v.Members[i].ID < v.Members[j].ID })
	v.sortWarnings()
	return v
}

// memberView describes member id. Callers hold s.hbMu for reading.
func (s *Sync) memberView(id string, m trust.Member, now time.Time) MemberView {
	mv := MemberView{ID: id, Name: m.Name, Status: string(m.Status),
		RevocationSeq: s.state.RevocationSeq(id), ContentKeys: s.state.ContentKeyIDs(id)}
	if mv.ContentKeys == nil {
		mv.ContentKeys = []string{}
	}
	sort.Strings(mv.ContentKeys)
	if ks := s.state.Keyset(id); ks != nil {
		mv.KeysetVersion = ks.Version
		mv.KeysetExpires = time.Unix(ks.Expires, 0)
		mv.KeysetExpiresSoon = now.Add(s.warnAhead).After(mv.KeysetExpires)
		mv.KeyStates = map[string]int{}
		for _, k := range ks.Signing {
			mv.KeyStates[string(k.State)]++
		}
	}
	seen, ok := s.heartbeats[id]
	if !ok {
		mv.Stale = true
		return mv
	}
	age := now.Sub(seen.at)
	mv.Heartbeat = &HeartbeatView{At: seen.at, AgeSeconds: max(age, 0).Seconds(),
		KeysetVersion: seen.hb.KeysetVersion, ContentKeyID: seen.hb.ContentKeyID,
		RevocationSeq: seen.hb.RevocationSeq, TrustListVersion: seen.hb.TrustListVersion}
	mv.Stale = age > s.staleAfter
	if seen.hb.RevocationSeq > mv.RevocationSeq && id != s.self {
		mv.RevocationLag = seen.hb.RevocationSeq - mv.RevocationSeq
	}
	return mv
}
