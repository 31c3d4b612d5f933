package trust

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// Proof of scan. A cross-province lookup (lookup.go) names a code by its
// id, and code ids are no secret: every member receives the jti of every
// revoked code in the revocation statements. So the asking node proves it
// saw the code itself: it sends the code's proof of scan, a digest of the
// code's signature, which only a holder of the code text can compute. The
// home node keeps, for each code it issues, a digest of that proof
// (ScanDigest) and answers only a request whose proof matches it
// (CheckScanProof). The home's database holds no proof, only its digest.
//
// ECDSA signatures are malleable: (r, n-s) verifies wherever (r, s) does,
// so one code has two encodings a scanner accepts. The proof is taken of
// the signature with s in its lower half, so both give the same proof.

// ScanProofLen is the size of a proof of scan before encoding: a SHA-256.
const ScanProofLen = sha256.Size

// scanProofDomain separates a proof of scan from any other SHA-256 of a
// signature.
const scanProofDomain = "hcfed-scan-proof/v1\x00"

// p256Order is n, the order of the P-256 group, big-endian; p256HalfOrder
// is n/2 rounded down.
var (
	p256Order = [32]byte{0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51}
	p256HalfOrder = [32]byte{0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8}
)

// ScanProof returns the proof of scan of a code's text, base64url: what
// a node that saw the code sends with a lookup of it. It reads the
// signature part only and does not verify it: whether the proof is the
// right one is for the code's home node to say. It fails (ReasonMalformed)
// on text that is not a compact code with a signature part of 64 bytes.
func ScanProof(code string) (string, error) {
	p, err := scanProof(code)
	if err != nil {
		return "", err
	}
	return b64url.EncodeToString(p[:]), nil
}

// ScanDigest returns what a home node stores of a code it issues: the
// SHA-256 of the code's proof of scan. It fails as ScanProof does.
func ScanDigest(code string) ([]byte, error) {
	p, err := scanProof(code)
	if err != nil {
		return nil, err
	}
	d := sha256.Sum256(p[:])
	return d[:], nil
}

// ValidScanProof reports whether s has the form of a proof of scan:
// ScanProofLen bytes, base64url, in its one strict encoding.
func ValidScanProof(s string) bool {
	_, ok := decodeScanProof(s)
	return ok
}

// CheckScanProof reports whether proof is the proof of scan of the code
// whose ScanDigest is digest, comparing in constant time. A proof that is
// malformed, or a digest that is missing (a code recorded before digests
// were kept) or of the wrong size, never matches.
func CheckScanProof(proof string, digest []byte) bool {
	p, ok := decodeScanProof(proof)
	if !ok || len(digest) != sha256.Size {
		return false
	}
	d := sha256.Sum256(p[:])
	return subtle.ConstantTimeCompare(d[:], digest) == 1
}

// decodeScanProof decodes a base64url proof of scan strictly.
func decodeScanProof(s string) ([ScanProofLen]byte, bool) {
	var p [ScanProofLen]byte
	if len(s) != b64url.EncodedLen(ScanProofLen) {
		return p, false
	}
	n, err := b64url.Decode(p[:], []byte(s))
	return p, err == nil && n == ScanProofLen
}

// scanProof computes the proof of scan of code: SHA-256 of the domain,
// r, and s in its lower half.
func scanProof(code string) ([ScanProofLen]byte, error) {
	var p [ScanProofLen]byte
	body, ok := strings.CutPrefix(code, CodePrefix)
	if !ok || len(code) > MaxCodeLen || strings.Count(body, ".") != 2 {
		return p, fail(ReasonMalformed, "not a health code")
	}
	var sig [es256SigLen]byte
	sig64 := body[strings.LastIndexByte(body, '.')+1:]
	if b64url.DecodedLen(len(sig64)) != es256SigLen {
		return p, fail(ReasonMalformed, "signature encoding")
	}
	if _, err := b64url.Decode(sig[:], []byte(sig64)); err != nil {
		return p, fail(ReasonMalformed, "signature encoding")
	}
	lowS(sig[es256SigLen/2:])
	h := sha256.New()
	h.Write([]byte(scanProofDomain))
	h.Write(sig[:])
	h.Sum(p[:0])
	return p, nil
}

// lowS replaces s, 32 bytes big-endian, with n - s when s is above n/2:
// of the two signatures (r, s) and (r, n-s), the one with the lower s.
// An s of n or more, which no valid signature has, is left as it is.
func lowS(s []byte) {
	if bytes.Compare(s, p256HalfOrder[:]) <= 0 || bytes.Compare(s, p256Order[:]) >= 0 {
		return
	}
	var borrow int
	for i := len(s) - 1; i >= 0; i-- {
		d := int(p256Order[i]) - int(s[i]) - borrow
		borrow = 0
		if d < 0 {
			d += 256
			borrow = 1
		}
		s[i] = byte(d)
	}
}
