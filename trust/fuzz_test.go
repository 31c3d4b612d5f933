package trust

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
)

// Fuzz targets check properties, not only the absence of panics. Seeds are
// in testdata/fuzz/<FuzzName>/ (regenerated with the vectors); run one with
//
//	go test ./trust -run=^$ -fuzz=FuzzVerify -fuzztime=60s

// FuzzVerify runs arbitrary code text against the vectors' fixture. A code
// that passes must be an HCFed code whose content is masked, and go-jose,
// read independently, must agree that the signature and content are good.
func FuzzVerify(f *testing.F) {
	_, snap, rev, now := loadVectorFixture(f)
	f.Add("")
	f.Add(CodePrefix + "..")
	f.Add(CodePrefix + strings.Repeat(".", 100))
	f.Fuzz(func(t *testing.T, code string) {
		r := Verify(code, snap, rev, now)
		if !slices.Contains(codeReasons, r.Reason) {
			t.Fatalf("unknown reason %q", r.Reason)
		}
		if r.Reason != ReasonOK {
			if r.Content != (Content{}) {
				t.Fatalf("%q result carries content", r.Reason)
			}
			return
		}
		if !strings.HasPrefix(code, CodePrefix) || len(code) > MaxCodeLen {
			t.Fatalf("accepted a code without prefix or over the limit: %q", code)
		}
		if err := r.Content.Validate(); err != nil {
			t.Fatalf("accepted content %+v: %v", r.Content, err)
		}
		key := snap.Keys[r.Issuer][r.KeyID]
		if m := snap.Members[r.Issuer]; key == nil || m.Status != MemberActive {
			t.Fatalf("accepted a code of %s/%s not in the snapshot", r.Issuer, r.KeyID)
		}
		jws, err := jose.ParseSignedCompact(strings.TrimPrefix(code, CodePrefix), []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("go-jose cannot parse an accepted code: %v", err)
		}
		payload, err := jws.Verify(key.Public)
		if err != nil {
			t.Fatalf("go-jose rejects the signature of an accepted code: %v", err)
		}
		var cl Claims
		if err := json.Unmarshal(payload, &cl); err != nil || cl.JTI != r.JTI || cl.Issuer != r.Issuer {
			t.Fatalf("go-jose reads other claims: %+v, %v", cl, err)
		}
		checkContentWithJose(t, cl.CT, snap.ContentKeys[r.Issuer], r.Content)
	})
}

// checkContentWithJose decrypts ct with go-jose and requires content want.
func checkContentWithJose(t *testing.T, ct string, keys map[string]ContentKey, want Content) {
	t.Helper()
	jwe, err := jose.ParseEncryptedCompact(ct, []jose.KeyAlgorithm{jose.DIRECT}, contentEncs)
	if err != nil {
		t.Fatalf("go-jose cannot parse accepted content: %v", err)
	}
	ck, ok := keys[jwe.Header.KeyID]
	if !ok {
		t.Fatalf("go-jose reads content key id %q", jwe.Header.KeyID)
	}
	plain, err := jwe.Decrypt(ck.Key)
	if err != nil {
		t.Fatalf("go-jose cannot decrypt accepted content: %v", err)
	}
	var c Content
	if err := json.Unmarshal(plain, &c); err != nil || c != want {
		t.Fatalf("go-jose reads content %+v, we read %+v", c, want)
	}
}

// FuzzOpenContent checks the direct dir/A256GCM decryption against go-jose:
// whatever openContent accepts, go-jose decrypts to the same content.
func FuzzOpenContent(f *testing.F) {
	_, snap, _, _ := loadVectorFixture(f)
	keys := snap.ContentKeys[gd]
	f.Add("....")
	f.Add(b64([]byte(`{"alg":"dir","enc":"A256GCM","kid":"440000/x"}`)) + "...AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, ct string) {
		c, r := openContent(ct, gd, keys)
		switch r {
		case ReasonOK:
		case ReasonMalformed, ReasonBadContent, ReasonNoContentKey:
			return
		default:
			t.Fatalf("openContent reason %q", r)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted content %+v: %v", c, err)
		}
		checkContentWithJose(t, ct, keys, c)
	})
}

// FuzzParseKeyset parses arbitrary statements as Guangdong's keyset. What
// passes must name Guangdong, hold only well-formed keys under their
// thumbprints, and carry a signature go-jose accepts from the root.
func FuzzParseKeyset(f *testing.F) {
	fx, _, _, _ := loadVectorFixture(f)
	var m vectorMember
	for _, mm := range fx.Members {
		if mm.ID == gd {
			m = mm
		}
	}
	root, _, err := ParsePublicJWK(m.Root)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := ParseKeyset(raw, gd, root)
		if r := ReasonOf(err); !slices.Contains(allReasons, r) {
			t.Fatalf("unknown reason %q", r)
		}
		if err != nil {
			return
		}
		if v.Issuer != gd || v.Raw != raw {
			t.Fatalf("accepted keyset of %q", v.Issuer)
		}
		for kid, k := range v.Signing {
			tp, err := Thumbprint(k.Public)
			if err != nil || tp != kid || k.ID != kid || !k.State.Valid() || (k.State == KeyRetired && k.RetiredAt.IsZero()) {
				t.Fatalf("accepted key %s: %+v", kid, k)
			}
		}
		jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("go-jose cannot parse an accepted keyset: %v", err)
		}
		if _, err := jws.Verify(root); err != nil {
			t.Fatalf("go-jose rejects the root's signature on an accepted keyset: %v", err)
		}
	})
}

// FuzzParseTrustList parses arbitrary documents. What passes has a
// threshold its operators can meet, members with GB/T 2260 ids, signers
// drawn from its operators, and — as go-jose reads it — only signatures
// whose protected header is exactly alg ES256, kid and the trust list typ.
func FuzzParseTrustList(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"payload":"e30","signatures":[{"protected":"e30","signature":""}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := ParseTrustList(raw)
		if r := ReasonOf(err); !slices.Contains(allReasons, r) {
			t.Fatalf("unknown reason %q", r)
		}
		if err != nil {
			return
		}
		if p.Threshold < 1 || p.Threshold > len(p.Operators) || p.Federation == "" || p.Version == 0 {
			t.Fatalf("accepted %s v%d with threshold %d of %d", p.Federation, p.Version, p.Threshold, len(p.Operators))
		}
		if !slices.IsSorted(p.SignedBy) {
			t.Fatalf("SignedBy not sorted: %v", p.SignedBy)
		}
		for _, id := range p.SignedBy {
			if p.Operators[id] == nil {
				t.Fatalf("signer %q is not an operator", id)
			}
		}
		for id, m := range p.Members {
			if !isProvinceID(id) || m.ID != id || m.Root == nil {
				t.Fatalf("accepted member %q: %+v", id, m)
			}
		}
		checkTrustListWithJose(t, raw, p)
	})
}

// checkTrustListWithJose holds an accepted trust list to its canonical
// form (rebuilt from what was parsed, it is byte for byte the input) and
// to go-jose's independent reading: the same signature headers, each
// exactly alg ES256, kid and the trust list typ, and a go-jose-verified
// signature from every operator counted as a signer.
func checkTrustListWithJose(t *testing.T, raw []byte, p *ParsedTrustList) {
	t.Helper()
	doc := trustListDoc{Payload: b64(p.Payload)}
	for _, sig := range p.sigs {
		protected, _, _ := strings.Cut(sig.input, ".")
		doc.Signatures = append(doc.Signatures, trustListSig{Protected: protected, Signature: b64(sig.sig)})
	}
	if again, err := json.Marshal(doc); err != nil || string(again) != string(raw) {
		t.Fatalf("accepted document re-encodes as %q", again)
	}
	jws, err := jose.ParseSignedJSON(string(raw), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("go-jose cannot parse an accepted trust list: %v", err)
	}
	if len(jws.Signatures) != len(p.sigs) {
		t.Fatalf("go-jose reads %d signatures, we read %d", len(jws.Signatures), len(p.sigs))
	}
	for i, sig := range jws.Signatures {
		h := sig.Protected
		if h.Algorithm != string(jose.ES256) || h.KeyID != p.sigs[i].kid || h.JSONWebKey != nil || len(h.ExtraHeaders) != 1 ||
			h.ExtraHeaders[jose.HeaderType] != TypTrustList || sig.Unprotected.KeyID != "" || len(sig.Unprotected.ExtraHeaders) != 0 {
			t.Fatalf("go-jose reads a signature header we should have refused: %+v / %+v", h, sig.Unprotected)
		}
	}
	for _, id := range p.SignedBy {
		if _, _, _, err := jws.VerifyMulti(p.Operators[id]); err != nil {
			t.Fatalf("signer %s: go-jose finds no signature of theirs: %v", id, err)
		}
	}
}

// FuzzDecodeHeader holds the protected-header check to its promise: a
// header that passes the canonical-form check re-encodes to exactly its
// bytes, and one that passes entirely is read identically by go-jose.
func FuzzDecodeHeader(f *testing.F) {
	f.Add(b64([]byte(codeHeader("k"))))
	f.Add("")
	sig := b64(make([]byte, 64))
	f.Fuzz(func(t *testing.T, h64 string) {
		h, err := decodeHeader(h64, TypCode)
		r := ReasonOf(err)
		switch r {
		case ReasonMalformed, ReasonBadHeader:
			return
		case ReasonOK, ReasonBadAlgorithm, ReasonWrongType:
		default:
			t.Fatalf("decodeHeader reason %q", r)
		}
		hb, derr := base64.RawURLEncoding.Strict().DecodeString(h64)
		if derr != nil {
			t.Fatalf("passed canonical check without decoding: %v", derr)
		}
		canon, _ := json.Marshal(h)
		if string(canon) != string(hb) {
			t.Fatalf("accepted header %q re-encodes as %q", hb, canon)
		}
		if r != ReasonOK {
			return
		}
		if !utf8.Valid(hb) || h.Alg != "ES256" || h.Typ != TypCode || h.Kid == "" {
			t.Fatalf("accepted header %+v", h)
		}
		jws, err := jose.ParseSignedCompact(h64+".e30."+sig, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("go-jose refuses a header we accept: %v", err)
		}
		got := jws.Signatures[0].Protected
		if got.Algorithm != h.Alg || got.KeyID != h.Kid || got.ExtraHeaders[jose.HeaderType] != h.Typ ||
			len(got.ExtraHeaders) != 1 || got.JSONWebKey != nil {
			t.Fatalf("go-jose reads %+v, we read %+v", got, h)
		}
	})
}

// FuzzMask: whatever a person's name and document number are, the masked
// forms pass Content.Validate and reveal at most one character of the
// name and at most four (and at most half) of the document's.
func FuzzMask(f *testing.F) {
	f.Add("张三丰", "440106199001011234")
	f.Fuzz(func(t *testing.T, name, doc string) {
		mn, md := MaskName(name), MaskDocument(doc)
		if !isMaskedName(mn) || !isMaskedDoc(md) {
			t.Fatalf("MaskName(%q) = %q, MaskDocument(%q) = %q", name, mn, doc, md)
		}
		if err := (Content{Status: Green, Name: mn, Doc: md}).Validate(); err != nil {
			t.Fatalf("masked content refused: %v", err)
		}
		shown := strings.TrimSuffix(mn, "*")
		if n := utf8.RuneCountInString(shown); n > 1 {
			t.Fatalf("MaskName(%q) = %q shows %d characters", name, mn, n)
		}
		if shown != "" && !strings.HasPrefix(strings.TrimSpace(name), shown) {
			t.Fatalf("MaskName(%q) = %q shows a character that is not the first", name, mn)
		}
		var chars []byte
		for i := 0; i < len(doc); i++ {
			if isDocChar(doc[i]) {
				chars = append(chars, doc[i])
			}
		}
		kept := strings.TrimPrefix(md, "****")
		if len(kept) > 4 || len(kept) > len(chars)/2 || !strings.HasSuffix(string(chars), kept) {
			t.Fatalf("MaskDocument(%q) = %q", doc, md)
		}
	})
}
