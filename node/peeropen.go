package node

import (
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hcfed/hcfed/trust"
)

// Opening a sealed message from another province costs a key agreement
// (ECDH-ES) and a signature check before a forgery is found out, and a
// forger's cheapest flood is one sealed message sent again and again,
// which costs it nothing. So before a message is opened, openGuard
// refuses, unopened:
//   - an envelope (the JWE's protected header, which holds its ephemeral
//     key) already refused after opening, in the same province's name:
//     a sender makes a new one for every message, so only a replay or a
//     forgery repeats one, and the province's real messages pass;
//   - any message in the name of a province whose budget of refused
//     openings (openRefusedRate, openRefusedBurst) is spent: a forger
//     who makes a new envelope for each forgery pays a key agreement of
//     its own for each, and costs this node at most that budget of them.
//     While it floods, that province's real messages are refused too
//     (nothing tells them apart before they are opened); other
//     provinces' are not.
// Only a refused opening is charged: a province whose messages verify is
// never held back by the budget.

// openRefusedRate and openRefusedBurst bound the openings in one
// province's name that end refused (not for this node, not signed by
// it, replays), across lookups, receipts and erasures: what a flood of
// forgeries in its name may cost in key agreements and signature checks.
const (
	openRefusedRate  = rate.Limit(1) // per second
	openRefusedBurst = 20
)

// maxRefusedEnvelopes bounds the envelopes of refused messages openGuard
// remembers, for all provinces; the oldest go first.
const maxRefusedEnvelopes = 4096

// Refusals of a message not opened.
var (
	errEnvelopeRefused = &trust.Error{Reason: trust.ReasonReplayed,
		Detail: "this sealed envelope was refused before: not opened again"}
	errOpeningsSpent = &trust.Error{Reason: trust.ReasonRateLimited,
		Detail: "too many messages in this province's name were refused: not opened"}
)

// openGuard decides, before a sealed message is opened, whether it may
// be, and learns from each refused opening. It is shared by every kind
// of message from other provinces.
type openGuard struct {
	refusals *peerLimiter // refused openings, per province

	mu      sync.Mutex
	seen    map[envelope]struct{}
	ring    []envelope // seen's keys, oldest at next once full
	next    int
	maxSeen int
}

// newOpenGuard makes an openGuard. listed is listedIn of the node's trust state.
func newOpenGuard(listed func(string) bool) *openGuard {
	return &openGuard{refusals: newPeerLimiter(openRefusedRate, openRefusedBurst, listed),
		seen: map[envelope]struct{}{}, maxSeen: maxRefusedEnvelopes}
}

// mayOpen refuses raw, in from's name, unopened if its envelope was
// refused before or from's budget of refused openings is spent at now.
// It returns raw's envelope key, for refused.
func (g *openGuard) mayOpen(from string, raw []byte, now time.Time) (envelope, error) {
	k := envelopeKey(from, raw)
	g.mu.Lock()
	_, seen := g.seen[k]
	g.mu.Unlock()
	switch {
	case seen:
		return k, errEnvelopeRefused
	case !g.refusals.has(from, now):
		return k, errOpeningsSpent
	}
	return k, nil
}

// refused charges from's budget with a refused opening at now, and
// remembers its envelope k (mayOpen's).
func (g *openGuard) refused(from string, k envelope, now time.Time) {
	g.refusals.allow(from, now)
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.seen[k]; ok {
		return
	}
	if len(g.ring) < g.maxSeen {
		g.ring = append(g.ring, k)
	} else {
		delete(g.seen, g.ring[g.next])
		g.ring[g.next] = k
		g.next = (g.next + 1) % g.maxSeen
	}
	g.seen[k] = struct{}{}
}

// envelope names a message's envelope in its sender's name (envelopeKey).
type envelope [sha256.Size]byte

// envelopeKey names raw's envelope in from's name: its first compact
// part, the JWE's protected header with its ephemeral key (all of raw
// if it has no dot; such a message is refused before any key agreement).
func envelopeKey(from string, raw []byte) envelope {
	header, _, _ := strings.Cut(string(raw), ".")
	return sha256.Sum256([]byte(from + "\x00" + header))
}
