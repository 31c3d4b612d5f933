// Package federation is HCFed's NATS transport: the only code in the
// module that speaks NATS. It runs an embedded nats-server with JetStream
// (Server), connects a node to its federation (Conn), names every subject
// and key in one place (Topic), keeps latest-state statements in a
// JetStream key-value bucket (PutState, GetState, WatchState) and carries
// revocation deltas on a JetStream stream (PublishRevocation,
// ConsumeRevocations).
//
// The transport is never trusted. Nothing here parses or verifies a
// statement: bytes go in and come out, bounded in size, tagged with the
// province that the subject or key names. A verifying layer on top decides
// what to believe. The only checks made here are the ones that keep the
// transport itself safe: ids are validated so no subject can be injected,
// oversized messages are dropped and counted before anyone parses them,
// and a connection that says which province it is refuses to publish under
// another province's name (the server's per-province permissions, see
// configs/nats-server.conf, refuse it again).
//
// Every goroutine started here belongs to a Conn: it stops when its
// context is cancelled or the Conn is closed, and Close waits for it.
package federation
