// Package node is one province's health-code node: it enrols residents
// with their consent, keeps their personal data sealed, issues signed and
// encrypted codes, revokes them when a status changes, verifies codes for
// authorised scanners, rotates its keys and keeps a tamper-evident audit
// log. node/store holds its data, node/api serves it over HTTP, and the
// federation package carries its statements to other provinces.
package node
