package federation

import (
	"fmt"
	"slices"
)

// Province isolation on NATS (docs/design-changes.md, "Province isolation
// on NATS"): in accounts mode every province has a NATS account of its
// own, and the federation operators one more. A province writes only the
// assets of its own account:
//
//	own state bucket      hcfed_<fed>_<p>        its keys only, as in the shared bucket
//	own revocation stream HCFED_<fed>_REV_<p>    captures hcfed.<fed>.<p>.revocations
//	own snapshot bucket   hcfed_<fed>_snap_<p>   its revocation snapshot object
//
// (the operators' account holds hcfed_<fed>_op, with the trust list key).
// Every account also holds the aggregates a node reads, under the names of
// the single-account mode, which the SERVER fills by sourcing from every
// member's own assets through the account exports and imports that
// GenerateServerConfig writes:
//
//	hcfed_<fed>          state bucket: each source filtered to the keys its owner may write
//	HCFED_<fed>_REV      revocation stream: each source filtered to its owner's subject
//
// Snapshots are not copied: a node reads another province's snapshot
// from that province's own bucket with direct gets through an import
// (read only, no consumer in the other account), see snapshots_accounts.go.

// IsolationAccounts is the ConnConfig.Isolation of a federation whose
// NATS server runs the configuration GenerateServerConfig writes.
const IsolationAccounts = "accounts"

// operatorTag names the operators' account in asset names and prefixes.
const operatorTag = "op"

// ownBucketName is the state bucket of owner (a province id or
// operatorTag) in its own account.
func ownBucketName(fed, owner string) string { return bucketName(fed) + "_" + owner }

// ownStreamName is the revocation stream of province p in its account.
func ownStreamName(fed, p string) string { return streamName(fed) + "_" + p }

// ownSnapshotBucketName is the snapshot bucket of province p.
func ownSnapshotBucketName(fed, p string) string { return snapshotBucketName(fed) + "_" + p }

// apiPrefix is the JetStream API prefix under which an account reaches
// the exported parts of owner's account.
func apiPrefix(owner string) string { return "$JS." + owner + ".API" }

// deliverPrefix is the subject prefix on which the server delivers what
// account to sources from owner's account.
func deliverPrefix(owner, to string) string { return "hcfedsrc." + owner + "." + to }

// accountName is the NATS account of owner.
func accountName(owner string) string { return "HCFED_" + owner }

// ownKeys are the keys owner may write, as they read in the aggregate:
// the trust list for the operators; keyset, heartbeat, revsnapshot and one
// content key per member for a province. Sourcing only these bounds what
// a member can make every other account store.
func ownKeys(owner string, members []string) []string {
	if owner == operatorTag {
		return []string{string(KindTrustList)}
	}
	keys := []string{
		owner + "." + string(KindKeyset),
		owner + "." + string(KindHeartbeat),
		owner + "." + string(KindRevSnapshot),
	}
	for _, m := range members {
		if m != owner {
			keys = append(keys, owner+"."+string(KindContentKey)+"."+m)
		}
	}
	return keys
}

// checkMembers validates a federation's member list and returns it sorted
// without duplicates.
func checkMembers(fed string, members []string) ([]string, error) {
	if err := ValidateFederation(fed); err != nil {
		return nil, err
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("%w: a federation needs at least one member", ErrInvalidName)
	}
	out := slices.Clone(members)
	slices.Sort(out)
	out = slices.Compact(out)
	for _, m := range out {
		if err := ValidateProvince(m); err != nil {
			return nil, err
		}
	}
	return out, nil
}
