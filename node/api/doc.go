// Package api serves a node over HTTP with echo: the well-known key and
// trust documents, enrolment, status, codes and their QR images, scanner
// verification, health checks and metrics. It is the only code that speaks
// HTTP; every decision is the node's. Errors are JSON
// {"error":{"code","message"}} with one status per code (errors.go).
package api
