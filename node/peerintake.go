package node

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/hcfed/hcfed/trust"
)

// What another province's node sends this one — a lookup request, a
// receipt, an erasure — comes on a subject that names a province, and
// the subject says which province a message is from, not who sent it:
// anyone able to publish there (a NATS permission left too wide, a
// member gone rogue) can send in any province's name. So a province's
// allowance of each kind is charged only by a message that opened,
// verified under that province's keys and was no replay; a flood of
// forgeries in its name spends none of it (though, past openGuard's
// budget, its real messages are refused unopened while the flood lasts).
// What a forgery costs is its opening: at most one key
// agreement and one signature check, on the one goroutine that serves
// the subject, and openGuard (peeropen.go) bounds how many of those a
// flood of them costs; one in the name of a province of which no keyset
// is held costs none. A message refused is counted, and logged (a lookup request
// audited too) at most at peerRefusedNoteRate in each province's name,
// so a flood fills neither the log nor the audit log.

// peerRefusedNoteRate and peerRefusedNoteBurst bound the log lines (and
// the audit entries, for lookups) of messages of one kind refused in one
// province's name: forgeries, mostly, each counted in its metric's
// {event="refused"}.
const (
	peerRefusedNoteRate  = rate.Limit(0.2) // one each 5 s
	peerRefusedNoteBurst = 5
)

// peerRefusals counts the messages of one kind refused in each
// province's name, and notes a few.
type peerRefusals struct {
	what    string       // the kind, as the log names it: "verification receipt"
	notes   *peerLimiter // refused messages noted (logged, and audited by the caller if it audits)
	refused prometheus.Counter
}

// newPeerRefusals counts the refusals of messages of kind what in
// refused, and notes them at most at peerRefusedNoteRate for each
// province. listed is listedIn of the node's trust state.
func newPeerRefusals(what string, refused prometheus.Counter, listed func(string) bool) peerRefusals {
	return peerRefusals{what: what, notes: newPeerLimiter(peerRefusedNoteRate, peerRefusedNoteBurst, listed), refused: refused}
}

// refuse counts a message in from's name refused at now for err, and
// reports whether it is noted: then it is logged here, for the caller to
// audit or answer.
func (rs *peerRefusals) refuse(log *slog.Logger, from string, err error, now time.Time) bool {
	rs.refused.Inc()
	if !rs.notes.allow(from, now) {
		return false
	}
	log.Warn(rs.what+" refused", "from", from, "reason", string(trust.ReasonOf(err)))
	return true
}

// peerIntake is what one kind of message from other provinces may cost:
// the limit each province's verified messages are charged, and how
// refused ones are counted and noted.
type peerIntake struct {
	peerRefusals
	limit    *peerLimiter // verified messages only
	limited  prometheus.Counter
	guard    *openGuard // before opening (peeropen.go), shared by every kind
	unopened prometheus.Counter
}

// newPeerIntake makes the intake of one kind of message, its limit r
// and burst a province, counting refused, unopened and limited messages
// in events (under intakeRefused, intakeUnopened and intakeLimited) and
// naming the kind what in its log lines. guard decides what is opened.
// listed is listedIn of the node's trust state.
func newPeerIntake(what string, r rate.Limit, burst int, events *prometheus.CounterVec, guard *openGuard, listed func(string) bool) *peerIntake {
	return &peerIntake{peerRefusals: newPeerRefusals(what, events.WithLabelValues(intakeRefused), listed),
		limit: newPeerLimiter(r, burst, listed), limited: events.WithLabelValues(intakeLimited),
		guard: guard, unopened: events.WithLabelValues(intakeUnopened)}
}

// Events every intake counts, in its kind's metric.
const (
	intakeRefused  = "refused"  // received and refused: not opened, not verified, or a replay
	intakeUnopened = "unopened" // of the refused, those not opened at all (peeropen.go)
	intakeLimited  = "limited"  // received and verified, and not taken: beyond the sender's rate
)

// open runs open, the opening of raw in from's name at now (its key
// agreement, its signature check and its replay check), unless the
// guard refuses raw unopened; a refused opening is charged to from's
// budget of them, unless it verified and was refused only as beyond its
// sender's replay room. It returns the refusal, for admit.
func (in *peerIntake) open(from string, raw []byte, now time.Time, open func() error) error {
	envelope, err := in.guard.mayOpen(from, raw, now)
	if err != nil {
		in.unopened.Inc()
		return err
	}
	err = open()
	// One refused as over its sender's replay room (rate_limited) was
	// opened and verified: no forgery, and its envelope is new. Charged,
	// a province's own burst of one kind would have its other kinds
	// refused unopened.
	if err != nil && trust.ReasonOf(err) != trust.ReasonRateLimited {
		in.guard.refused(from, envelope, now)
	}
	return err
}

// intakeVerdict is what becomes of one message.
type intakeVerdict int

const (
	intakeTaken        intakeVerdict = iota // verified and within the sender's rate
	intakeRefusedNote                       // refused, and noted: logged, for the caller to audit or answer
	intakeRefusedQuiet                      // refused, and only counted
	intakeOverRate                          // verified, beyond the sender's rate: counted
)

// admit decides about one message in from's name at now, err being what
// opening it, verifying it and checking it against replay gave: only a
// message with no error is charged to from's limit.
func (in *peerIntake) admit(log *slog.Logger, from string, err error, now time.Time) intakeVerdict {
	if err != nil {
		if in.refuse(log, from, err, now) {
			return intakeRefusedNote
		}
		return intakeRefusedQuiet
	}
	if !in.limit.allow(from, now) {
		in.limited.Inc()
		log.Debug(in.what+" dropped: rate", "from", from)
		return intakeOverRate
	}
	return intakeTaken
}
