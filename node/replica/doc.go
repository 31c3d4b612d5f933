// Package replica is a verifier replica of a province's home node: a
// process that answers POST /v1/verify for the province's scanners behind
// the province's load balancer, so that verification capacity scales out
// without copying personal data or keys.
//
// A replica holds no personal data and no signing key. It follows the
// federation over NATS like any node (trust list, keysets, revocations,
// snapshots) but publishes nothing. What only the home node knows — the
// registered scanners (their token hashes, never tokens) and the content
// keys that open codes (the province's own and those peers granted it) —
// it fetches from the home node every replica.refresh, the keys sealed to
// an enc key the replica made at its first start and registered at home,
// once an admin confirmed the fingerprint of its keys there ('hcnode
// replica confirm').
// The verifications its scanners make are queued in its own SQLite file
// and sent home in batches, where they join the audit log and the
// receipts as if scanned there.
package replica
