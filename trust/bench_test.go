package trust

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// BenchmarkVerify is the full check a scanner's node runs per scan.
// Compare with BenchmarkECDSAVerifyASN1: the signature is the floor, and
// everything else Verify does should cost little next to it.
func BenchmarkVerify(b *testing.B) {
	f := newTestFederation(b, testNow)
	code, _ := f.GD.good(b, testNow)
	b.ReportAllocs()
	for b.Loop() {
		if r := Verify(code, f.Snap, NoRevocations{}, testNow); r.Reason != ReasonOK {
			b.Fatal(r.Reason)
		}
	}
}

// BenchmarkECDSAVerifyASN1 is the baseline: one P-256 signature check over
// a SHA-256 digest, the least any verifier of an ES256 code must do.
func BenchmarkECDSAVerifyASN1(b *testing.B) {
	key := mustKey(b)
	digest := sha256.Sum256([]byte("HCF1 benchmark signing input"))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkIssue is one code issuance: encrypt content, sign claims.
func BenchmarkIssue(b *testing.B) {
	p := newTestProvince(b, gd, testNow)
	ci := p.issuer(b, p.Active)
	jti := mustJTI(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ci.Issue(jti, testNow, testNow.Add(DefaultCodeLifetime), greenContent); err != nil {
			b.Fatal(err)
		}
	}
}
