package trust

import (
	"bytes"
	"crypto/elliptic"
	"math/big"
	"strings"
	"testing"
)

func TestP256OrderConstants(t *testing.T) {
	n := elliptic.P256().Params().N
	if new(big.Int).SetBytes(p256Order[:]).Cmp(n) != 0 {
		t.Fatal("p256Order is not the order of P-256")
	}
	if new(big.Int).SetBytes(p256HalfOrder[:]).Cmp(new(big.Int).Rsh(n, 1)) != 0 {
		t.Fatal("p256HalfOrder is not n/2")
	}
}

// The proof of scan is the home's to check against the digest it stored
// at issuance: the code and its malleated twin (both verify) give the
// same proof, another code of the same province does not, and neither
// does anything that is not a proof.
func TestScanProofMatchesOnlyItsCodesDigest(t *testing.T) {
	f := newTestFederation(t, testNow)
	code, _ := f.GD.good(t, f.Now)
	other, _ := f.GD.good(t, f.Now)
	digest, err := ScanDigest(code)
	if err != nil || len(digest) != ScanProofLen {
		t.Fatalf("ScanDigest = %x, %v", digest, err)
	}
	proof, err := ScanProof(code)
	if err != nil || !ValidScanProof(proof) || !CheckScanProof(proof, digest) {
		t.Fatalf("ScanProof = %q, %v: does not match its own code's digest", proof, err)
	}
	if bytes.Contains(digest, mustDecode(t, proof)) || strings.Contains(code, proof) {
		t.Fatal("the digest or the code holds the proof itself")
	}
	twin := malleate(t, code)
	if twinProof, err := ScanProof(twin); err != nil || twinProof != proof {
		t.Fatalf("the malleated encoding's proof %q (%v) differs from %q", twinProof, err, proof)
	}
	otherProof, err := ScanProof(other)
	if err != nil || CheckScanProof(otherProof, digest) {
		t.Fatalf("another code's proof matched (%v)", err)
	}
	flipped := []byte(proof)
	flipped[5] ^= 1
	for name, p := range map[string]string{
		"another code's": otherProof, "flipped": string(flipped), "empty": "", "short": proof[:42],
		"long": proof + "A", "padded": proof + "=", "not base64url": "+" + proof[1:],
		"non-zero trailing bits": proof[:42] + "B", // 43 characters carry 258 bits: the last 2 must be 0
	} {
		if CheckScanProof(p, digest) {
			t.Errorf("%s proof %q matched", name, p)
		}
		if name != "another code's" && name != "flipped" && ValidScanProof(p) {
			t.Errorf("%s proof %q has the form of a proof", name, p)
		}
	}
	for name, d := range map[string][]byte{"none (issued before digests)": nil, "short": digest[:31], "long": append(append([]byte{}, digest...), 0)} {
		if CheckScanProof(proof, d) {
			t.Errorf("digest %s matched", name)
		}
	}
}

func TestScanProofRefusesWhatIsNotACode(t *testing.T) {
	f := newTestFederation(t, testNow)
	code, _ := f.GD.good(t, f.Now)
	body := strings.TrimPrefix(code, CodePrefix)
	for name, c := range map[string]string{
		"no prefix":        body,
		"two parts":        code[:strings.LastIndexByte(code, '.')],
		"short signature":  code[:len(code)-2],
		"signature padded": code + "==",
		"four parts":       code + ".x",
		"oversized":        code + strings.Repeat("A", MaxCodeLen),
	} {
		if _, err := ScanProof(c); ReasonOf(err) != ReasonMalformed {
			t.Errorf("%s: ScanProof = %v, want malformed", name, err)
		}
		if _, err := ScanDigest(c); ReasonOf(err) != ReasonMalformed {
			t.Errorf("%s: ScanDigest = %v, want malformed", name, err)
		}
	}
}

// FuzzScanProof: any text either is refused as malformed or gives a
// well-formed proof that matches the digest of the same text, and only
// that; the proof never depends on which of s and n-s the signature has.
func FuzzScanProof(f *testing.F) {
	fed := newTestFederation(f, testNow)
	code, _ := fed.GD.good(f, fed.Now)
	f.Add(code)
	f.Add(malleate(f, code))
	f.Add(CodePrefix + "a.b.c")
	f.Add(code[:len(code)-1])
	f.Fuzz(func(t *testing.T, text string) {
		proof, err := ScanProof(text)
		digest, derr := ScanDigest(text)
		if err != nil || derr != nil {
			if ReasonOf(err) != ReasonMalformed || ReasonOf(derr) != ReasonMalformed || proof != "" || digest != nil {
				t.Fatalf("refused with %v / %v, proof %q, digest %x", err, derr, proof, digest)
			}
			return
		}
		if !ValidScanProof(proof) || !CheckScanProof(proof, digest) {
			t.Fatalf("proof %q does not match its own digest", proof)
		}
		if ValidScanProof(proof+"A") || CheckScanProof(proof[1:], digest) {
			t.Fatal("a changed proof passes")
		}
	})
}
