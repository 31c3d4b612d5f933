// Package federation is HCFed's link to its federation over NATS: the only
// code in the module that speaks NATS. It has two layers.
//
// The transport runs an embedded nats-server with JetStream (Server),
// connects a node to its federation (Conn), names every subject and key in
// one place (Topic), keeps latest-state statements in a JetStream
// key-value bucket (PutState, GetState, WatchState), carries revocation
// deltas on a JetStream stream (PublishRevocation, ConsumeRevocations),
// keeps each province's revocation snapshot, too large for one message,
// in an object store bucket (PutSnapshot, GetSnapshot), and carries
// requests for fresh snapshots (RequestSnapshot, ServeSnapshotRequests).
// The transport is never trusted and trusts nothing: bytes go in and come
// out, bounded in size, tagged with the province that the subject or key
// names. The only checks made there keep the transport itself safe: ids
// are validated so no subject can be injected, oversized messages are
// dropped and counted before anyone parses them, and a connection that
// says which province it is refuses to publish under another province's
// name (the server's per-province permissions, see
// configs/nats-server.conf, refuse it again).
//
// The verifying layer, Sync, decides what to believe. It hands every
// statement to a trust.State, the one place that accepts statements, and
// copes with what a transport does: statements out of order, repeated,
// forged, or missing (a gap in a province's revocations is filled from its
// snapshot). It caches what it applied (Cache) so that a node restarted
// while NATS is down still verifies, and reports how fresh each member is
// (View).
//
// Every goroutine started here has an owner: a Conn's stop when their
// context is cancelled or the Conn is closed, and Close waits for them;
// a Sync's stop before Run returns.
package federation
