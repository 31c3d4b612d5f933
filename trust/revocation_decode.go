package trust

// decodeRevocation decodes a verified revocation payload as decodeStrict
// would. A payload in the exact form a StatementSigner's province writes
// (encoding/json's: fields in order, no spaces, plain strings, integers)
// is read by hand, without reflection or a second pass: decodeStrict cost
// about 1.4 µs an entry, the largest part of a peer's CPU in a revocation
// storm, where every peer reads every entry. Any other payload goes to
// decodeStrict, which decides and words the error.
func decodeRevocation(payload []byte, r *Revocation) error {
	if canonicalRevocation(payload, r) {
		return nil
	}
	*r = Revocation{}
	return decodeStrict(payload, r)
}

// canonicalRevocation reads payload into r if it is exactly
// {"iss":S,"seq":N,"iat":N,"entries":[{"jti":S,"exp":N},...]} with plain
// strings and non-negative integers as json.Marshal writes them, and
// reports whether it did.
func canonicalRevocation(payload []byte, r *Revocation) bool {
	p := canonReader{b: payload}
	var seq, iat int64
	*r = Revocation{}
	if !p.lit(`{"iss":`) || !p.plainString(&r.Issuer) || !p.lit(`,"seq":`) || !p.int(&seq) || seq < 0 ||
		!p.lit(`,"iat":`) || !p.int(&iat) || iat < 0 || !p.lit(`,"entries":[`) {
		return false
	}
	r.Seq, r.IssuedAt = uint64(seq), iat
	r.Entries = make([]RevocationEntry, 0, p.count(`{"jti":`))
	for i := 0; !p.lit(`]`); i++ {
		if i > 0 && !p.lit(`,`) {
			return false
		}
		var e RevocationEntry
		if !p.lit(`{"jti":`) || !p.plainString(&e.JTI) || !p.lit(`,"exp":`) || !p.int(&e.Expires) || e.Expires < 0 || !p.lit(`}`) {
			return false
		}
		r.Entries = append(r.Entries, e)
	}
	return p.lit(`}`) && p.i == len(p.b)
}
