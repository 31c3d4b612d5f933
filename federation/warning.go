package federation

import (
	"sort"
	"strconv"
	"time"
)

// WarningCode names what a warning of GET /v1/federation is about. It is
// stable: the console says the warning in the operator's language from
// its code and parameters (a catalogue entry per code, checked by
// node/web's tests), where the English Text would be all a Chinese
// console could show. Every code a node can produce is declared here,
// those of the NATS side (StreamHealth.Warning) included.
type WarningCode string

// The warning codes, with the parameters (Warning.Params) each carries.
// A time parameter is RFC 3339 in UTC; a province is its id.
const (
	// WarningNoTrustList: no trust list is held. No parameters.
	WarningNoTrustList WarningCode = "no_trust_list"
	// WarningTrustListExpires: the trust list held expires within the
	// warning window. version, expires.
	WarningTrustListExpires WarningCode = "trust_list_expires"
	// WarningSelfSuspended: the trust list held suspends this node's own
	// province. province, version.
	WarningSelfSuspended WarningCode = "self_suspended"
	// WarningKeysetExpires: a member's keyset held expires within the
	// warning window. province, expires.
	WarningKeysetExpires WarningCode = "keyset_expires"
	// WarningNoHeartbeat: no heartbeat of an active member within
	// StaleAfter. province.
	WarningNoHeartbeat WarningCode = "no_heartbeat"
	// WarningRevocationsStale: this node last knew it held every
	// revocation of an active member longer ago than its limit, so it
	// refuses the member's codes (revocations_stale). province, since (a
	// time), limit (a Go duration, as configured).
	WarningRevocationsStale WarningCode = "revocations_stale"
	// WarningRevocationsUnknown: as WarningRevocationsStale, never having
	// known it. province.
	WarningRevocationsUnknown WarningCode = "revocations_unknown"
	// WarningStreamError: a JetStream asset's stream could not be read.
	// asset, error (the NATS server's words).
	WarningStreamError WarningCode = "stream_error"
	// WarningStreamNoLeader: a replicated asset's stream has no leader.
	// asset.
	WarningStreamNoLeader WarningCode = "stream_no_leader"
	// WarningStreamReplicasBehind: fewer of a stream's replicas are
	// current than configured. asset, current, replicas.
	WarningStreamReplicasBehind WarningCode = "stream_replicas_behind"
)

// Warning is one thing an operator should act on: its code and
// parameters, for a console to say in its language, and the English
// sentence (the same as in FederationView.Warnings).
type Warning struct {
	Code   WarningCode       `json:"code"`
	Params map[string]string `json:"params"`
	Text   string            `json:"text"`
}

// AddWarnings appends ws to the view, to Warnings (the sentences, as
// older consoles and curl users read them) and WarningDetails alike, so
// that the two lists stay in step.
func (v *FederationView) AddWarnings(ws ...Warning) {
	for _, w := range ws {
		if w.Params == nil {
			w.Params = map[string]string{}
		}
		v.Warnings = append(v.Warnings, w.Text)
		v.WarningDetails = append(v.WarningDetails, w)
	}
}

// sortWarnings orders the view's warnings by their sentence.
func (v *FederationView) sortWarnings() {
	sort.SliceStable(v.WarningDetails, func(i, j int) bool { return v.WarningDetails[i].Text < v.WarningDetails[j].Text })
	for i, w := range v.WarningDetails {
		v.Warnings[i] = w.Text
	}
}

// warnTime writes a time parameter, and the time in a warning's sentence.
func warnTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// warnVersion writes a version parameter.
func warnVersion(v uint64) string { return strconv.FormatUint(v, 10) }
