// Package datadir guards a node's data directory: one process at a time.
//
// A node's database, key store and NATS store must never be written by two
// processes at once: two `hcnode serve` on one directory would both sign
// codes and publish revocations with the same sequence numbers, and
// `hcnode sunset` beside a running node would delete data the node still
// serves from memory. Lock takes an OS file lock that the kernel releases
// when the process ends, however it ends, so a crash never leaves the
// directory locked.
package datadir
