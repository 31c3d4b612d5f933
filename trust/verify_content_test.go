package trust

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Verify tests of the last checks — content key and content — and of the
// order in which checks report.

func TestVerifyRejectsCodeWithoutContentKey(t *testing.T) {
	f := newTestFederation(t, testNow)
	code := mustGood(t, f)
	delete(f.Snap.ContentKeys[gd], f.GD.CK.ID)
	verifyWant(t, f, code, ReasonNoContentKey)
	delete(f.Snap.ContentKeys, gd)
	verifyWant(t, f, code, ReasonNoContentKey)
}

// Content keys are looked up under the issuer and must carry its prefix:
// a code of Guangdong cannot point at Shanghai's key, even when the
// verifier holds it under Guangdong by mistake.
func TestVerifyRejectsContentKeyOfOtherProvince(t *testing.T) {
	f := newTestFederation(t, testNow)
	cl := f.GD.claims(t, f.Now, time.Hour)
	cl.CT = seal(t, f.SH.CK, greenContent)
	code := signCode(t, f.GD.Active, cl)
	verifyWant(t, f, code, ReasonNoContentKey)
	f.Snap.ContentKeys[gd][f.SH.CK.ID] = f.SH.CK
	verifyWant(t, f, code, ReasonNoContentKey)
}

func TestVerifyRejectsBadContent(t *testing.T) {
	f := newTestFederation(t, testNow)
	good := seal(t, f.GD.CK, greenContent)
	parts := strings.Split(good, ".")
	flip := func(i int) string {
		p := append([]string(nil), parts...)
		b := mustDecode(t, p[i])
		b[0] ^= 1
		p[i] = b64(b)
		return strings.Join(p, ".")
	}
	otherKey := f.GD.CK
	otherKey.Key = fixedBytes("another key", ContentKeyLen)
	plain, _ := json.Marshal(greenContent)
	// Hand-sealed under the canonical header, content opens: the header
	// variants below fail for their header alone.
	if c, r := openContent(sealWithHeader(t, f.GD.CK.Key, `{"alg":"dir","enc":"A256GCM","kid":"`+f.GD.CK.ID+`"}`, plain), gd, f.Snap.ContentKeys[gd]); r != ReasonOK || c != greenContent {
		t.Fatalf("hand-sealed canonical content: %q", r)
	}
	for name, ct := range map[string]string{
		"ciphertext tampered": flip(3),
		"tag tampered":        flip(4),
		"iv tampered":         flip(2),
		"header swapped":      b64([]byte(`{"alg":"dir","enc":"A256GCM","kid":"`+f.GD.CK.ID+`","zip":"DEF"}`)) + "." + strings.Join(parts[1:], "."),
		"wrong key same id":   seal(t, otherKey, greenContent),
		"encrypted key set":   parts[0] + ".AAAA." + strings.Join(parts[2:], "."),
		"not a jwe":           "plain text",
		"jws in ct":           strings.TrimPrefix(mustGood(t, f), CodePrefix),
		"unmasked name":       seal(t, f.GD.CK, Content{Status: Green, Name: "张三", Doc: "****1234"}),
		"full id number":      seal(t, f.GD.CK, Content{Status: Green, Name: "张*", Doc: "440106199001011234"}),
		"unknown status":      seal(t, f.GD.CK, Content{Status: "purple", Name: "张*", Doc: "****1234"}),
		"extra field":         seal(t, f.GD.CK, map[string]string{"st": "green", "dn": "张*", "doc": "****1234", "phone": "13800000000"}),
		"not json":            sealRaw(t, f.GD.CK, []byte("green")),
		"header reordered":    sealWithHeader(t, f.GD.CK.Key, `{"enc":"A256GCM","alg":"dir","kid":"`+f.GD.CK.ID+`"}`, plain),
		"header case variant": sealWithHeader(t, f.GD.CK.Key, `{"alg":"dir","ENC":"A256GCM","kid":"`+f.GD.CK.ID+`"}`, plain),
		"header with zip":     sealWithHeader(t, f.GD.CK.Key, `{"alg":"dir","enc":"A256GCM","kid":"`+f.GD.CK.ID+`","zip":"DEF"}`, plain),
		"header whitespace":   sealWithHeader(t, f.GD.CK.Key, `{"alg":"dir", "enc":"A256GCM","kid":"`+f.GD.CK.ID+`"}`, plain),
		"header enc A128GCM":  sealWithHeader(t, f.GD.CK.Key, `{"alg":"dir","enc":"A128GCM","kid":"`+f.GD.CK.ID+`"}`, plain),
		"header alg A256KW":   sealWithHeader(t, f.GD.CK.Key, `{"alg":"A256KW","enc":"A256GCM","kid":"`+f.GD.CK.ID+`"}`, plain),
	} {
		t.Run(name, func(t *testing.T) {
			cl := f.GD.claims(t, f.Now, time.Hour)
			cl.CT = ct
			verifyWant(t, f, signCode(t, f.GD.Active, cl), ReasonBadContent)
		})
	}
}

func sealRaw(t *testing.T, ck ContentKey, plain []byte) string {
	t.Helper()
	s, err := sealContent(ck, plain)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b64Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The checks run in the documented order: each case breaks two things
// and expects the earlier check to name the failure.
func TestVerifyReportsFirstFailedCheck(t *testing.T) {
	f := newTestFederation(t, testNow)
	compromisedBadSig := signCode(t, f.GD.Compromised, f.GD.claims(t, f.Now, time.Hour))
	h, p, s := splitJWS(t, compromisedBadSig)
	sig := mustDecode(t, s)
	sig[0] ^= 1
	expiredRevoked, cl := f.GD.issue(t, f.GD.Retired, f.Now.Add(-48*time.Hour), time.Hour)
	rev := revokedList{{gd, cl.JTI}: true}
	for name, c := range map[string]struct {
		code string
		snap func(*Snapshot)
		want Reason
	}{
		"compromised key before signature": {CodePrefix + h + "." + p + "." + b64(sig), nil, ReasonKeyCompromised},
		"expired before revoked":           {expiredRevoked, nil, ReasonExpired},
		"stale before unknown issuer": {signCode(t, mustSigner(t, mustKey(t)), newTestProvince(t, "650000", f.Now).claims(t, f.Now, time.Hour)),
			func(s *Snapshot) { s.StaleAfter = f.Now.Add(-time.Second) }, ReasonTrustStale},
		"suspended before unknown key": {signCode(t, mustSigner(t, mustKey(t)), f.BJ.claims(t, f.Now, time.Hour)), nil, ReasonIssuerSuspended},
	} {
		t.Run(name, func(t *testing.T) {
			snap := f.Snap.Clone()
			if c.snap != nil {
				c.snap(snap)
			}
			if r := Verify(c.code, snap, rev, f.Now); r.Reason != c.want {
				t.Fatalf("%q, want %q", r.Reason, c.want)
			}
		})
	}
}

func TestVerifyDoesNotTrustClaimsOfFailedCode(t *testing.T) {
	f := newTestFederation(t, testNow)
	code := signCode(t, mustSigner(t, mustKey(t)), f.GD.claims(t, f.Now, time.Hour))
	r := Verify(code, f.Snap, NoRevocations{}, f.Now)
	if r.Valid() || r.Content != (Content{}) {
		t.Fatalf("unsigned code yielded %+v", r)
	}
}
