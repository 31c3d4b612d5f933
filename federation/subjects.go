package federation

import (
	"fmt"
	"strings"
)

// Kind is what a statement is. Its value is the last fixed token of the
// subject and key that carry it.
type Kind string

// The kinds of statement carried by the federation.
const (
	KindTrustList   Kind = "trustlist"   // federation-wide, signed by operators
	KindKeyset      Kind = "keyset"      // a province's signing keys
	KindContentKey  Kind = "contentkey"  // a content key granted to one peer
	KindRevocations Kind = "revocations" // revocation deltas (stream only)
	KindHeartbeat   Kind = "heartbeat"   // a node's report of how current it is
	KindRevSnapshot Kind = "revsnapshot" // all live revocations up to a seq
	// KindSnapshotRequest asks a province (Peer) to publish a fresh
	// revocation snapshot. It is sent under the asking province's own name
	// (Province), so per-province publish permissions allow it; it is a
	// request only, never stored.
	KindSnapshotRequest Kind = "snapreq"
	// KindLookup asks a province (Peer) for the contact data of the
	// holder of one of its codes (a sealed trust.LookupRequest). Like
	// KindSnapshotRequest it is sent under the asking province's own name
	// (Province) and never stored; the answer comes back as the reply.
	KindLookup Kind = "lookup"
	// KindReceipts carries a sealed trust.Receipt of verifications by
	// Province of codes issued by Peer; fire-and-forget, never stored.
	KindReceipts Kind = "receipts"
)

// Topic names one statement slot: its kind, the province it belongs to
// (empty for the trust list) and, for content keys, the peer it is
// granted to. Subject and Key render it; ParseSubject and ParseKey read it
// back. Every id is validated on the way in and out, so no subject can be
// made to contain a wildcard or an extra token.
//
//	subject                                 key
//	hcfed.<fed>.trustlist                   trustlist
//	hcfed.<fed>.<p>.keyset                  <p>.keyset
//	hcfed.<fed>.<p>.contentkey.<peer>       <p>.contentkey.<peer>
//	hcfed.<fed>.<p>.revocations             (stream only, no key)
//	hcfed.<fed>.<p>.heartbeat               <p>.heartbeat
//	hcfed.<fed>.<p>.revsnapshot             <p>.revsnapshot (a pointer, see PutSnapshot)
//	hcfed.<fed>.<p>.snapreq.<home>          (request only, no key)
//	hcfed.<fed>.<p>.lookup.<home>           (request only, no key)
//	hcfed.<fed>.<p>.receipts.<home>         (message only, no key)
type Topic struct {
	Kind     Kind
	Province string // GB/T 2260 code of the publishing province
	Peer     string // KindContentKey: the province it is granted to; KindSnapshotRequest, KindLookup, KindReceipts: the province addressed
}

// subjectRoot is the first token of every federation subject.
const subjectRoot = "hcfed"

// ValidateFederation checks a federation id: 1 to 32 of [a-z0-9-].
func ValidateFederation(fed string) error {
	if len(fed) < 1 || len(fed) > 32 {
		return fmt.Errorf("%w: federation id %q must be 1 to 32 characters", ErrInvalidName, fed)
	}
	for i := 0; i < len(fed); i++ {
		c := fed[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: federation id %q may hold only a-z, 0-9 and -", ErrInvalidName, fed)
		}
	}
	return nil
}

// ValidateProvince checks a province id: six digits (GB/T 2260).
func ValidateProvince(p string) error {
	if len(p) != 6 {
		return fmt.Errorf("%w: province id %q must be six digits", ErrInvalidName, p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return fmt.Errorf("%w: province id %q must be six digits", ErrInvalidName, p)
		}
	}
	return nil
}

// Validate checks that t names a slot that can exist.
func (t Topic) Validate() error {
	switch t.Kind {
	case KindTrustList:
		if t.Province != "" || t.Peer != "" {
			return fmt.Errorf("%w: the trust list belongs to no province", ErrInvalidName)
		}
		return nil
	case KindContentKey, KindSnapshotRequest, KindLookup, KindReceipts:
		if err := ValidateProvince(t.Peer); err != nil {
			return err
		}
	case KindKeyset, KindRevocations, KindHeartbeat, KindRevSnapshot:
		if t.Peer != "" {
			return fmt.Errorf("%w: only a content key or a message to a province names a peer", ErrInvalidName)
		}
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidName, t.Kind)
	}
	return ValidateProvince(t.Province)
}

// suffix renders the province-relative part shared by subject and key.
func (t Topic) suffix() string {
	switch t.Kind {
	case KindTrustList:
		return string(t.Kind)
	case KindContentKey, KindSnapshotRequest, KindLookup, KindReceipts:
		return t.Province + "." + string(t.Kind) + "." + t.Peer
	default:
		return t.Province + "." + string(t.Kind)
	}
}

// Subject returns the NATS subject of t in federation fed.
func (t Topic) Subject(fed string) (string, error) {
	if err := ValidateFederation(fed); err != nil {
		return "", err
	}
	if err := t.Validate(); err != nil {
		return "", err
	}
	return subjectRoot + "." + fed + "." + t.suffix(), nil
}

// Key returns the key of t in the federation's state bucket. Revocation
// deltas live on the stream and snapshot requests are never stored: they
// have no key.
func (t Topic) Key() (string, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	if err := t.hasKey(); err != nil {
		return "", err
	}
	return t.suffix(), nil
}

// hasKey refuses the kinds that have no state key.
func (t Topic) hasKey() error {
	switch t.Kind {
	case KindRevocations:
		return fmt.Errorf("%w: revocation deltas have no state key", ErrInvalidName)
	case KindSnapshotRequest, KindLookup, KindReceipts:
		return fmt.Errorf("%w: %s messages have no state key", ErrInvalidName, t.Kind)
	}
	return nil
}

// String renders t for logs.
func (t Topic) String() string { return t.suffix() }

// ParseKey reads a state bucket key back into a Topic, refusing anything
// that Key would not have produced.
func ParseKey(key string) (Topic, error) {
	t, err := parseSuffix(strings.Split(key, "."))
	if err != nil {
		return Topic{}, fmt.Errorf("key %q: %w", key, err)
	}
	if err := t.hasKey(); err != nil {
		return Topic{}, fmt.Errorf("key %q: %w", key, err)
	}
	return t, nil
}

// ParseSubject reads a subject of federation fed back into a Topic,
// refusing anything that Subject would not have produced.
func ParseSubject(fed, subject string) (Topic, error) {
	if err := ValidateFederation(fed); err != nil {
		return Topic{}, err
	}
	tokens := strings.Split(subject, ".")
	if len(tokens) < 3 || tokens[0] != subjectRoot || tokens[1] != fed {
		return Topic{}, fmt.Errorf("%w: subject %q is not in federation %q", ErrInvalidName, subject, fed)
	}
	t, err := parseSuffix(tokens[2:])
	if err != nil {
		return Topic{}, fmt.Errorf("subject %q: %w", subject, err)
	}
	return t, nil
}

// parseSuffix reads the province-relative tokens of a subject or key.
func parseSuffix(tokens []string) (Topic, error) {
	var t Topic
	switch {
	case len(tokens) == 1 && tokens[0] == string(KindTrustList):
		t = Topic{Kind: KindTrustList}
	case len(tokens) == 2 && !namesPeer(Kind(tokens[1])):
		t = Topic{Kind: Kind(tokens[1]), Province: tokens[0]}
	case len(tokens) == 3 && namesPeer(Kind(tokens[1])):
		t = Topic{Kind: Kind(tokens[1]), Province: tokens[0], Peer: tokens[2]}
	default:
		return Topic{}, fmt.Errorf("%w: not a federation name", ErrInvalidName)
	}
	return t, t.Validate()
}

// namesPeer reports whether topics of kind k name a peer province.
func namesPeer(k Kind) bool {
	return k == KindContentKey || k == KindSnapshotRequest || k == KindLookup || k == KindReceipts
}

// bucketName is the state bucket of federation fed (validated).
func bucketName(fed string) string { return "hcfed_" + fed }

// snapshotBucketName is the object store bucket of revocation snapshots
// of federation fed (validated).
func snapshotBucketName(fed string) string { return "hcfed_" + fed + "_snap" }

// snapshotRequests is the subject on which province home receives
// snapshot requests from every other province.
func snapshotRequests(fed, home string) string {
	return subjectRoot + "." + fed + ".*." + string(KindSnapshotRequest) + "." + home
}

// toProvince is the subject on which province home receives messages of
// kind from every other province.
func toProvince(fed string, kind Kind, home string) string {
	return subjectRoot + "." + fed + ".*." + string(kind) + "." + home
}

// streamName is the revocation stream of federation fed (validated).
func streamName(fed string) string { return "HCFED_" + fed + "_REV" }

// revocationSubjects is the filter of the revocation stream.
func revocationSubjects(fed string) string {
	return subjectRoot + "." + fed + ".*." + string(KindRevocations)
}
