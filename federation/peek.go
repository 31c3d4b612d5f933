package federation

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
)

// peeked holds the claims read from a statement's payload WITHOUT
// verifying its signature. They are fit only for decisions that are safe
// whatever the truth: skipping a message whose seq is already covered
// (a forged one would be refused anyway), choosing which cached statement
// to try first, or labelling a statement that has just been verified.
type peeked struct {
	Seq      uint64 `json:"seq"`
	Version  uint64 `json:"version"`
	IssuedAt int64  `json:"iat"`
}

// errNotCompact reports a value that is not even shaped like a compact JWS.
var errNotCompact = errors.New("not a compact JWS")

// peekClaims decodes the payload of a compact JWS into peeked: one
// base64 decode and a small JSON decode, microseconds where a signature
// check takes about sixty.
func peekClaims(raw []byte) (peeked, error) {
	var p peeked
	payload, err := peekPayload(raw)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return p, errNotCompact
	}
	return p, nil
}

// peekPayload decodes the payload of compact JWS raw, unverified: what
// stands between its first two dots.
func peekPayload(raw []byte) ([]byte, error) {
	first := bytes.IndexByte(raw, '.')
	if first < 0 {
		return nil, errNotCompact
	}
	rest := raw[first+1:]
	second := bytes.IndexByte(rest, '.')
	if second < 0 {
		return nil, errNotCompact
	}
	payload := make([]byte, base64.RawURLEncoding.DecodedLen(second))
	n, err := base64.RawURLEncoding.Decode(payload, rest[:second])
	if err != nil {
		return nil, errNotCompact
	}
	return payload[:n], nil
}

// peekSeq returns the unverified seq of a revocation delta, as peekClaims
// would, but reads the canonical form trust writes,
// {"iss":"<id>","seq":<n>,...}, without a JSON decoder: the stream
// consumer calls it for every message, covered or not. Anything that
// encoding/json could read as a second "seq" key (one spelled with other
// case, escapes or non-ASCII letters) sends it to peekClaims, so both
// always agree.
func peekSeq(raw []byte) (uint64, error) {
	payload, err := peekPayload(raw)
	if err != nil {
		return 0, err
	}
	if seq, ok := canonicalSeq(payload); ok {
		return seq, nil
	}
	var p peeked
	if err := json.Unmarshal(payload, &p); err != nil {
		return 0, errNotCompact
	}
	return p.Seq, nil
}

// canonicalSeq reads seq from a payload in the canonical form, and
// reports false for anything else.
func canonicalSeq(p []byte) (uint64, bool) {
	const head, mid = `{"iss":"`, `","seq":`
	const idLen = 6
	if len(p) < len(head)+idLen+len(mid)+2 || string(p[:len(head)]) != head ||
		string(p[len(head)+idLen:len(head)+idLen+len(mid)]) != mid {
		return 0, false
	}
	for _, c := range p[len(head) : len(head)+idLen] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	p = p[len(head)+idLen+len(mid):]
	end := 0
	for end < len(p) && end < 20 && p[end] >= '0' && p[end] <= '9' {
		end++
	}
	if end == 0 || end == len(p) || (p[end] != ',' && p[end] != '}') || (end > 1 && p[0] == '0') {
		return 0, false
	}
	var seq uint64
	for _, c := range p[:end] {
		d := uint64(c - '0')
		if seq > (1<<64-1-d)/10 {
			return 0, false // overflows: let the decoder refuse it
		}
		seq = seq*10 + d
	}
	rest := p[end:]
	for i, c := range rest {
		if c == '\\' || c >= 0x80 {
			return 0, false
		}
		// Only a whole quoted "seq" (in any case) can be a key: without
		// backslashes and non-ASCII bytes, a string holds no quote and
		// no other spelling of it. Letters s, e, q inside a longer string
		// (a random jti has them about once in 30 of 2,000 entries) are
		// not a key.
		if c == '"' && i+4 < len(rest) && rest[i+4] == '"' &&
			(rest[i+1]|0x20) == 's' && (rest[i+2]|0x20) == 'e' && (rest[i+3]|0x20) == 'q' {
			return 0, false
		}
	}
	return seq, true
}
