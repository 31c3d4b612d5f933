package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"
)

// es256DER writes what ecdsa.Verify builds from r and s: the DER of two
// positive INTEGERs, checked against encoding/asn1 for edge values (high
// bit set, leading zeros, one byte) and random ones; a zero r or s is
// refused, as ecdsa.Verify refuses it.
func TestES256DERIsTheEncodingEcdsaVerifyChecks(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	half := func(fill func(b []byte)) []byte { b := make([]byte, es256SigLen/2); fill(b); return b }
	halves := [][]byte{
		half(func(b []byte) { b[31] = 1 }),
		half(func(b []byte) { b[31] = 0x80 }),
		half(func(b []byte) { b[0] = 0x80 }),
		half(func(b []byte) { b[0] = 0x7f; b[5] = 9 }),
		half(func(b []byte) { b[1] = 0xff }),
		half(func(b []byte) { b[3] = 0x01 }),
		bytes.Repeat([]byte{0xff}, es256SigLen/2),
	}
	for range 200 {
		halves = append(halves, half(func(b []byte) {
			for i := range b {
				b[i] = byte(rnd.UintN(256))
			}
			b[0] >>= rnd.UintN(9) // sometimes leading zero bits or bytes
		}))
	}
	zero := make([]byte, es256SigLen/2)
	var der [es256MaxDERLen]byte
	for _, r := range halves {
		for _, s := range [][]byte{halves[rnd.IntN(len(halves))], halves[0], halves[2]} {
			n, ok := es256DER(der[:], append(append([]byte{}, r...), s...))
			want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
			if err != nil || !ok || !bytes.Equal(der[:n], want) {
				t.Fatalf("r %x s %x: DER %x, want %x", r, s, der[:n], want)
			}
		}
		for _, sig := range [][]byte{append(append([]byte{}, r...), zero...), append(append([]byte{}, zero...), r...)} {
			if _, ok := es256DER(der[:], sig); ok {
				t.Fatalf("%x: zero r or s encoded", sig)
			}
		}
	}
}

// verifyES256 agrees with ecdsa.Verify on good signatures, their (r, n-s)
// twins, and signatures with a byte changed.
func TestVerifyES256AgreesWithEcdsaVerify(t *testing.T) {
	key := mustKey(t)
	n := elliptic.P256().Params().N
	for i := range 20 {
		input := "HCF1 input " + string(rune('a'+i))
		sig, err := signES256(key, input)
		if err != nil {
			t.Fatal(err)
		}
		twin := append([]byte{}, sig...)
		new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:])).FillBytes(twin[32:])
		bad := append([]byte{}, sig...)
		bad[i%es256SigLen] ^= 0x40
		for _, s := range [][]byte{sig, twin, bad} {
			digest := sha256.Sum256([]byte(input))
			want := ecdsa.Verify(&key.PublicKey, digest[:], new(big.Int).SetBytes(s[:32]), new(big.Int).SetBytes(s[32:]))
			if got := verifyES256(&key.PublicKey, input, s); got != want {
				t.Fatalf("%x: verifyES256 %v, ecdsa.Verify %v", s, got, want)
			}
		}
	}
}

// A content key made where keys enter trust carries its cipher, which it
// reuses; a copy whose Key is replaced does not use the old key's cipher;
// a key built as a literal still works, building the cipher per use.
func TestContentKeyCipherBuiltOnceAndFollowsItsKey(t *testing.T) {
	ck, err := NewContentKey(ContentKeyID(gd, "e1"), testNow, testNow.Add(24*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	a1, err1 := ck.gcm()
	a2, err2 := ck.gcm()
	if err1 != nil || err2 != nil || ck.aead == nil || a1 != a2 || a1 != ck.aead.cipher {
		t.Fatalf("cipher not built once: %v %v", err1, err2)
	}
	other := ck
	other.Key = fixedBytes("other", ContentKeyLen)
	if a, err := other.gcm(); err != nil || a == a1 {
		t.Fatalf("replaced key used the old key's cipher (%v)", err)
	}
	literal := ContentKey{ID: ck.ID, Key: append([]byte{}, other.Key...)}
	for _, c := range []struct {
		seal, open ContentKey
		ok         bool
	}{{ck, ck, true}, {other, literal, true}, {literal, other.withAEAD(), true}, {ck, other, false}, {other, ck, false}} {
		ct := seal(t, c.seal, greenContent)
		got, r := openContent(ct, gd, map[string]ContentKey{ck.ID: c.open})
		if (r == ReasonOK) != c.ok || (c.ok && got != greenContent) {
			t.Errorf("sealed under %x, opened under %x: %q %+v", c.seal.Key[:4], c.open.Key[:4], r, got)
		}
	}
	short := ContentKey{ID: ck.ID, Key: ck.Key[:16]}.withAEAD()
	if short.aead != nil {
		t.Fatal("a cipher was built for a short key")
	}
}

// Every content key a State publishes carries its cipher.
func TestStateSnapshotContentKeysCarryTheirCipher(t *testing.T) {
	s, err := NewState(StateConfig{Self: gd})
	if err != nil {
		t.Fatal(err)
	}
	s.AddOwnContentKey(ContentKey{ID: ContentKeyID(gd, "e1"), Key: fixedBytes("e1", ContentKeyLen), Expires: testNow.Add(24 * time.Hour)})
	for id, ck := range s.Snapshot().ContentKeys[gd] {
		if !ck.aead.builtFrom(ck.Key) {
			t.Errorf("content key %s published without its cipher", id)
		}
	}
}

// Every code vector gets the same Result from a snapshot whose content
// keys carry their cipher as from one whose keys are plain literals.
func TestVerifySameWithAndWithoutBuiltCiphers(t *testing.T) {
	_, snap, rev, now := loadVectorFixture(t)
	built := *snap
	built.ContentKeys = map[string]map[string]ContentKey{}
	for p, cks := range snap.ContentKeys {
		built.ContentKeys[p] = map[string]ContentKey{}
		for id, ck := range cks {
			built.ContentKeys[p][id] = ck.withAEAD()
		}
	}
	forEachVector(t, "code", func(t *testing.T, name, text string, want Reason) {
		a, b := Verify(text, snap, rev, now), Verify(text, &built, rev, now)
		if !reflect.DeepEqual(a, b) || a.Reason != want {
			t.Errorf("literal keys %+v, built ciphers %+v, want %q", a, b, want)
		}
	})
}

// Verifiers share one snapshot, and so its content keys' ciphers: run
// with -race, concurrent Verify calls must neither race nor disagree.
func TestConcurrentVerifySharesContentCipher(t *testing.T) {
	f := newTestFederation(t, testNow)
	f.Snap.ContentKeys[gd] = map[string]ContentKey{f.GD.CK.ID: f.GD.CK.withAEAD()}
	code, _ := f.GD.good(t, testNow)
	var wg sync.WaitGroup
	errs := make(chan Result, 4)
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if r := Verify(code, f.Snap, NoRevocations{}, testNow); r.Reason != ReasonOK || r.Content != greenContent {
					errs <- r
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for r := range errs {
		t.Errorf("concurrent Verify: %+v", r)
	}
}
