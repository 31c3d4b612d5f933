package trust

import (
	"crypto/ecdsa"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// sealWithOptions is sealTyped with encrypter options of the test's own:
// what another JOSE library, or a hostile sender, may write.
func sealWithOptions(t *testing.T, plain []byte, cty string, to *ecdsa.PublicKey, opts *jose.EncrypterOptions) string {
	t.Helper()
	kid, err := Thumbprint(to)
	if err != nil {
		t.Fatal(err)
	}
	if cty != "" {
		opts = opts.WithContentType(jose.ContentType(cty))
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: to, KeyID: kid}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := enc.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// openJWE read its header with go-jose, which acts on members sealTyped
// never writes: "zip" (the plaintext inflated, up to 250 kB from a
// statement bounded at a few) and any member of the sender's choosing
// (jku, x5u, apu...). A sealed statement or grant key carrying one
// opened. The header may carry only what sealTyped writes now (alg, enc,
// epk, kid, and cty and typ); anything else is bad_header, before any
// decryption.
func TestSealedHeaderCarriesOnlyWhatSealTypedWrites(t *testing.T) {
	f := newTestFederation(t, testNow)
	to := &f.SH.Enc.PublicKey
	for name, opts := range map[string]*jose.EncrypterOptions{
		"zip":                 {Compression: jose.DEFLATE},
		"jku":                 (&jose.EncrypterOptions{}).WithHeader("jku", "https://example.org/keys"),
		"apu":                 (&jose.EncrypterOptions{}).WithHeader("apu", "QQ"),
		"a member of its own": (&jose.EncrypterOptions{}).WithHeader("x-note", "hello"),
	} {
		t.Run(name, func(t *testing.T) {
			for _, cty := range []string{grantKeyCty, sealedCty} {
				raw := sealWithOptions(t, f.GD.CK.Key, cty, to, opts)
				_, err := openJWE(raw, "test", cty, f.SH.Enc, 4096, ReasonNotRecipient)
				wantReason(t, err, ReasonBadHeader)
			}
		})
	}
	// What sealTyped writes opens, typ included.
	for _, typ := range []string{"", sealedErasureTyp} {
		raw, err := sealTyped(f.GD.CK.Key, sealedCty, typ, to)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := openJWE(raw, "test", sealedCty, f.SH.Enc, 4096, ReasonNotRecipient); err != nil {
			t.Fatalf("typ %q: %v", typ, err)
		}
	}
}
