// Package trust holds HCFed's formats and the checks that decide whether
// to believe them: health codes, province keysets, the federation trust
// list, content keys and revocation statements, and Verify.
//
// It is pure: no network, no files, no clocks and no global state. Callers
// pass the current time and a Snapshot of what they trust, so every
// acceptance rule can be tested by constructing its attack directly. It
// imports nothing of this module and only the standard library and go-jose.
//
// Every signature in HCFed is ES256 over P-256, and every key id is the
// RFC 7638 thumbprint of the public key. A statement's "typ" header is
// always checked, so one kind of statement can never pass for another.
//
// One codec (jws.go) writes and reads every JWS — codes, statements, the
// trust list's signatures — and the content of codes, in one canonical
// form: what a node accepts is byte for byte what a node writes, and
// parse → serialize gives back the input. go-jose is used only for JWKs,
// thumbprints and the ECDH-ES encryption of sealed statements and grants.
package trust
