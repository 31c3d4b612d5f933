// Package e2e runs HCFed the way a provincial IT department does: a real
// nats-server process started with configs/nats-server.conf, and one
// `hcnode serve` process per province started from the shipped
// configs/<province>.yaml, set up with `hcnode init` and the `hcnode trust`
// commands and driven only through the CLI and the HTTP API. Nothing of the
// node runs inside the test process, so crashes (SIGKILL) and restarts are
// real.
//
// The tests build both binaries once per run and run side by side (they
// mostly wait on processes); they still take a while and skip under
// `go test -short`.
package e2e
