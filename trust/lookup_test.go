package trust

import (
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"
)

const testBasis = "《传染病防治法》第三十一条: 密切接触者追踪"

// lookupReq is a good request from Shanghai to Guangdong at now.
func lookupReq(t testing.TB, now time.Time) LookupRequest {
	t.Helper()
	nonce, err := NewNonce(nil)
	if err != nil {
		t.Fatal(err)
	}
	return LookupRequest{Issuer: sh, To: gd, JTI: mustJTI(t), Proof: mustProof(t), LegalBasis: testBasis, CaseID: "SH-2026-0042",
		IssuedAt: now.Unix(), Nonce: nonce}
}

// mustProof is a random value of the form of a proof of scan: whether it
// is a code's is the home node's to check, not OpenLookupRequest's.
func mustProof(t testing.TB) string {
	t.Helper()
	var p [ScanProofLen]byte
	if _, err := rand.Read(p[:]); err != nil {
		t.Fatal(err)
	}
	return b64url.EncodeToString(p[:])
}

// sealAny signs any payload as typ with s and seals it to enc, bypassing
// every check SealLookupRequest makes.
func sealAny(t testing.TB, s *StatementSigner, typ string, payload any, to *testProvince) string {
	t.Helper()
	jws, err := s.Sign(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sealTo([]byte(jws), sealedCty, &to.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// openAtGD opens raw as Guangdong, the request coming on Shanghai's subject.
func openAtGD(f *testFederation, raw string, now time.Time) (*LookupRequest, error) {
	return OpenLookupRequest(raw, sh, f.SH.Keys, gd, f.GD.Enc, now)
}

func TestLookupRoundTripGivesAskerTheContactAndNobodyElse(t *testing.T) {
	f := newTestFederation(t, testNow)
	req := lookupReq(t, f.Now)
	raw, err := SealLookupRequest(f.SH.Active, req, &f.GD.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(raw, ".") != jweDots {
		t.Fatalf("request is not sealed: %q", raw)
	}
	// Beijing sees the request on NATS and cannot read it.
	_, err = OpenLookupRequest(raw, sh, f.SH.Keys, bj, f.BJ.Enc, f.Now)
	wantReason(t, err, ReasonNotRecipient)

	got, err := openAtGD(f, raw, f.Now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if *got != req {
		t.Fatalf("opened %+v, want %+v", *got, req)
	}
	contact := &Contact{Name: "张三", Phone: "+8613800138000"}
	ans, err := AnswerLookup(f.GD.Active, got, &f.SH.Enc.PublicKey, contact, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ans, "13800138000") || strings.Contains(ans, b64([]byte("13800138000"))) {
		t.Fatal("the answer carries the phone number in clear")
	}
	res, err := OpenLookupAnswer(ans, &req, f.GD.Keys, f.SH.Enc, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || res.Contact != *contact || res.Refused != "" {
		t.Fatalf("result %+v", res)
	}
	// Beijing, holding the answer, cannot read the contact data.
	_, err = OpenLookupAnswer(ans, &req, f.GD.Keys, f.BJ.Enc, f.Now)
	wantReason(t, err, ReasonNotRecipient)
}

// notFoundAnswer is Guangdong's answer to req, sent by Shanghai: not
// found.
func notFoundAnswer(t *testing.T, f *testFederation, req *LookupRequest) string {
	t.Helper()
	ans, err := AnswerLookup(f.GD.Active, req, &f.SH.Enc.PublicKey, nil, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	return ans
}

func TestLookupAnswersNotFoundAndRefusals(t *testing.T) {
	f := newTestFederation(t, testNow)
	req := lookupReq(t, f.Now)
	ans := notFoundAnswer(t, f, &req)
	if res, err := OpenLookupAnswer(ans, &req, f.GD.Keys, f.SH.Enc, f.Now); err != nil || res.Found || res.Refused != "" {
		t.Fatalf("not found: %+v, %v", res, err)
	}
	ans, err := RefuseLookup(f.GD.Active, &req, ReasonNotMember, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := OpenLookupAnswer(ans, &req, f.GD.Keys, f.SH.Enc, f.Now); err != nil || res.Found || res.Refused != ReasonNotMember {
		t.Fatalf("refusal: %+v, %v", res, err)
	}
	if _, err := RefuseLookup(f.GD.Active, &req, "Not A Reason", f.Now); err == nil {
		t.Fatal("refusal with a free-text reason was signed")
	}
}

func TestOpenLookupRequestRefuses(t *testing.T) {
	f := newTestFederation(t, testNow)
	good := func() LookupRequest { return lookupReq(t, f.Now) }
	with := func(mod func(*LookupRequest)) LookupRequest { r := good(); mod(&r); return r }
	for _, tc := range []struct {
		name string
		raw  string
		want Reason
	}{
		{"signed by a key not in the sender's keyset", sealAny(t, f.BJ.Active, TypLookup, good(), f.GD), ReasonUnknownKey},
		{"in another province's name", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.Issuer = bj }), f.GD), ReasonWrongSigner},
		{"with a compromised key", sealAny(t, f.SH.Compromised, TypLookup, good(), f.GD), ReasonKeyCompromised},
		{"with a key not yet active", sealAny(t, f.SH.Next, TypLookup, good(), f.GD), ReasonKeyNotActive},
		{"addressed to another province", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.To = bj }), f.GD), ReasonNotRecipient},
		{"sealed to another node", sealAny(t, f.SH.Active, TypLookup, good(), f.BJ), ReasonNotRecipient},
		{"stale", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.IssuedAt = f.Now.Add(-LookupWindow - time.Second).Unix() }), f.GD), ReasonExpired},
		{"from the future", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.IssuedAt = f.Now.Add(ClockSkew + time.Minute).Unix() }), f.GD), ReasonNotYetValid},
		{"of another typ", sealAny(t, f.SH.Active, TypLookupAnswer, good(), f.GD), ReasonWrongType},
		{"a heartbeat", sealAny(t, f.SH.Active, TypHeartbeat, good(), f.GD), ReasonWrongType},
		{"without legal basis", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.LegalBasis = "" }), f.GD), ReasonNoLegalBasis},
		{"with a blank legal basis", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.LegalBasis = "   " }), f.GD), ReasonNoLegalBasis},
		{"with a legal basis too long", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.LegalBasis = strings.Repeat("法", MaxLegalBasisLen+1) }), f.GD), ReasonNoLegalBasis},
		{"with a control character", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.LegalBasis = "law\x00" }), f.GD), ReasonNoLegalBasis},
		{"without case", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.CaseID = "" }), f.GD), ReasonNoLegalBasis},
		{"without proof of scan", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.Proof = "" }), f.GD), ReasonLookupUnproven},
		{"with a proof too short", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.Proof = r.Proof[:42] }), f.GD), ReasonLookupUnproven},
		{"with a proof too long", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.Proof += "AAAA" }), f.GD), ReasonLookupUnproven},
		{"with a proof not base64url", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.Proof = "/" + r.Proof[1:] }), f.GD), ReasonLookupUnproven},
		{"without legal basis nor proof", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.LegalBasis, r.Proof = "", "" }), f.GD), ReasonNoLegalBasis},
		{"for no code", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.JTI = "x" }), f.GD), ReasonMalformed},
		{"with a short nonce", sealAny(t, f.SH.Active, TypLookup, with(func(r *LookupRequest) { r.Nonce = "abc" }), f.GD), ReasonMalformed},
		{"with an unknown field", sealAny(t, f.SH.Active, TypLookup, map[string]any{"iss": sh, "to": gd, "x": 1}, f.GD), ReasonMalformed},
		{"not sealed", mustSign(t, f.SH.Active, TypLookup, good()), ReasonMalformed},
		{"oversized", strings.Repeat("A", MaxLookupLen+1), ReasonOversized},
		{"garbage", "a.b.c.d.e", ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := openAtGD(f, tc.raw, f.Now)
			wantReason(t, err, tc.want)
			// Only a request that failed on its grounds (purpose or
			// proof) comes back, to be refused with a signed answer.
			if (req != nil) != (tc.want == ReasonNoLegalBasis || tc.want == ReasonLookupUnproven) {
				t.Fatalf("request returned with %v: %+v", err, req)
			}
		})
	}
}

func TestSealedStatementWithAnotherContentTypeIsRefused(t *testing.T) {
	f := newTestFederation(t, testNow)
	jws := mustSign(t, f.SH.Active, TypLookup, lookupReq(t, f.Now))
	raw, err := sealTo([]byte(jws), contactCty, &f.GD.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = openAtGD(f, raw, f.Now)
	wantReason(t, err, ReasonBadHeader)
}

func TestSealLookupRequestRefusesWhatTheHomeWouldRefuse(t *testing.T) {
	f := newTestFederation(t, testNow)
	for _, mod := range []func(*LookupRequest){
		func(r *LookupRequest) { r.LegalBasis = "" },
		func(r *LookupRequest) { r.To = sh },
		func(r *LookupRequest) { r.Nonce = "" },
		func(r *LookupRequest) { r.CaseID = " SH-1" },
		func(r *LookupRequest) { r.Proof = "" },
		func(r *LookupRequest) { r.Proof = r.Proof[1:] },
	} {
		r := lookupReq(t, f.Now)
		mod(&r)
		if _, err := SealLookupRequest(f.SH.Active, r, &f.GD.Enc.PublicKey); err == nil {
			t.Errorf("sealed %+v", r)
		}
	}
}

func TestOpenLookupAnswerRefuses(t *testing.T) {
	f := newTestFederation(t, testNow)
	req := lookupReq(t, f.Now)
	answer := func(mod func(*LookupAnswer)) LookupAnswer {
		a := LookupAnswer{Issuer: gd, To: sh, Nonce: req.Nonce, IssuedAt: f.Now.Unix()}
		mod(&a)
		return a
	}
	none := func(*LookupAnswer) {}
	for _, tc := range []struct {
		name string
		raw  string
		want Reason
	}{
		{"signed by a key not in the sender's keyset", mustSign(t, f.BJ.Active, TypLookupAnswer, answer(none)), ReasonUnknownKey},
		{"in another province's name", mustSign(t, f.GD.Active, TypLookupAnswer, answer(func(a *LookupAnswer) { a.Issuer = bj })), ReasonWrongSigner},
		{"addressed to another province", mustSign(t, f.GD.Active, TypLookupAnswer, answer(func(a *LookupAnswer) { a.To = bj })), ReasonNotRecipient},
		{"to another request", mustSign(t, f.GD.Active, TypLookupAnswer, answer(func(a *LookupAnswer) { a.Nonce = mustJTI(t) })), ReasonReplayed},
		{"stale", mustSign(t, f.GD.Active, TypLookupAnswer, answer(func(a *LookupAnswer) { a.IssuedAt = f.Now.Add(-time.Hour).Unix() })), ReasonExpired},
		{"of another typ", mustSign(t, f.GD.Active, TypLookup, answer(none)), ReasonWrongType},
		{"found without data", mustSign(t, f.GD.Active, TypLookupAnswer, answer(func(a *LookupAnswer) { a.Found = true })), ReasonMalformed},
		{"refused with data", mustSign(t, f.GD.Active, TypLookupAnswer, answer(func(a *LookupAnswer) { a.Refused = ReasonNotMember; a.Data = "x" })), ReasonMalformed},
		{"data sealed to another node", foundFor(t, f, answer, f.BJ), ReasonNotRecipient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenLookupAnswer(tc.raw, &req, f.GD.Keys, f.SH.Enc, f.Now)
			wantReason(t, err, tc.want)
		})
	}
}

// foundFor is a found answer whose contact is sealed to province to.
func foundFor(t *testing.T, f *testFederation, answer func(func(*LookupAnswer)) LookupAnswer, to *testProvince) string {
	t.Helper()
	data, err := sealTo([]byte(`{"name":"张三"}`), contactCty, &to.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return mustSign(t, f.GD.Active, TypLookupAnswer, answer(func(a *LookupAnswer) { a.Found, a.Data = true, data }))
}

func mustSign(t testing.TB, s *StatementSigner, typ string, payload any) string {
	t.Helper()
	raw, err := s.Sign(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestReplayCacheRefusesSecondUseAndOlderThanItself(t *testing.T) {
	now := testNow
	c := NewReplayCache(now.Add(-time.Minute), 3)
	iat := now.Unix()
	if err := c.Use(sh, "n1", iat, now); err != nil {
		t.Fatal(err)
	}
	wantReason(t, c.Use(sh, "n1", iat, now), ReasonReplayed)
	if err := c.Use(bj, "n1", iat, now); err != nil {
		t.Fatalf("the same nonce from another province: %v", err)
	}
	wantReason(t, c.Use(sh, "n2", now.Add(-2*time.Minute).Unix(), now), ReasonExpired)
	for _, n := range []string{"n3", "n5"} {
		if err := c.Use(sh, n, iat, now); err != nil {
			t.Fatal(err)
		}
	}
	// Shanghai's room full of nonces still in their window: fail closed.
	wantReason(t, c.Use(sh, "n4", iat, now), ReasonRateLimited)
	// Once they are out of the window they make room.
	later := now.Add(LookupWindow + ClockSkew + time.Second)
	if err := c.Use(sh, "n4", later.Unix(), later); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestReplayCacheKeepsRoomForEveryProvince: a member province sending
// verified statements faster than it may (its rate is charged only after
// the replay check) fills only its own room in a node's replay cache, so
// that the requests, receipts and erasures of every other province are
// still taken. Before, the cache was one pool: Shanghai's flood made
// Beijing's next statement rate_limited for a whole window.
func TestReplayCacheKeepsRoomForEveryProvince(t *testing.T) {
	now := testNow
	const room = 64
	c := NewReplayCache(now.Add(-time.Minute), room)
	iat := now.Unix()
	for i := range 10 * room {
		if err := c.Use(sh, fmt.Sprintf("flood-%d", i), iat, now); err != nil {
			wantReason(t, err, ReasonRateLimited)
		}
	}
	wantReason(t, c.Use(sh, "one-more", iat, now), ReasonRateLimited)
	for i := range room {
		if err := c.Use(bj, fmt.Sprintf("bj-%d", i), iat, now); err != nil {
			t.Fatalf("Beijing's statement %d after Shanghai's flood: %v", i, err)
		}
	}
	if err := c.Use(gd, "gd-1", iat, now); err != nil {
		t.Fatalf("Guangdong's statement after two full provinces: %v", err)
	}
}

// FuzzOpenLookupRequest: whatever arrives on a lookup subject, Guangdong
// accepts only a request from Shanghai, to itself, with a legal basis.
func FuzzOpenLookupRequest(f *testing.F) {
	fed := newTestFederation(f, testNow)
	raw, err := SealLookupRequest(fed.SH.Active, lookupReq(f, fed.Now), &fed.GD.Enc.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add(strings.Replace(raw, ".", "..", 1))
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := openAtGD(fed, raw, fed.Now)
		if err != nil {
			if req != nil && ReasonOf(err) != ReasonNoLegalBasis {
				t.Fatalf("request returned with %v", err)
			}
			return
		}
		if req.Issuer != sh || req.To != gd || req.Validate() != nil {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// An answer to another request — an earlier answer replayed, or a
// forgery flooded on the reply subject — is refused by its nonce before
// its signature is checked: here its key is not even looked up (the
// keys given do not hold it), yet it is refused as a replay, not as an
// unknown key. The answer to the request itself still has its signature
// checked, and opens.
func TestLookupAnswerToAnotherRequestIsRefusedBeforeItsSignature(t *testing.T) {
	f := newTestFederation(t, testNow)
	earlier, req := lookupReq(t, f.Now), lookupReq(t, f.Now)
	if earlier.Nonce == req.Nonce {
		t.Fatal("two requests share a nonce: this test checks nothing")
	}
	old := notFoundAnswer(t, f, &earlier)
	_, err := OpenLookupAnswer(old, &req, map[string]*Key{}, f.SH.Enc, f.Now)
	wantReason(t, err, ReasonReplayed)
	_, err = OpenLookupAnswer(old, &earlier, map[string]*Key{}, f.SH.Enc, f.Now)
	wantReason(t, err, ReasonUnknownKey)
	if _, err := OpenLookupAnswer(old, &earlier, f.GD.Keys, f.SH.Enc, f.Now); err != nil {
		t.Fatalf("the answer to its own request: %v", err)
	}
}

// An answer's payload is decoded once, by DecodeJSON's rule, before its
// nonce is compared and its signature checked: signed by the home
// province and naming the request's nonce, a payload with a key given
// twice, a mis-cased key, a key LookupAnswer lacks, or anything but white
// space after its value is refused as malformed; followed by white space,
// it opens.
func TestLookupAnswerPayloadIsDecodedStrictly(t *testing.T) {
	f := newTestFederation(t, testNow)
	req := lookupReq(t, f.Now)
	good := string(payloadOf(t, notFoundAnswer(t, f, &req)))
	if !strings.HasPrefix(good, `{"iss":`) || !strings.Contains(good, `"found":`) {
		t.Fatalf("payload %s: this test edits its iss and found keys", good)
	}
	open := func(payload string) error {
		_, err := OpenLookupAnswer(signedPayload(t, f.GD.Active, TypLookupAnswer, []byte(payload)), &req, f.GD.Keys, f.SH.Enc, f.Now)
		return err
	}
	for name, payload := range map[string]string{
		"nonce given twice": strings.Replace(good, `{"iss":`, `{"nonce":"`+req.Nonce+`","iss":`, 1),
		"mis-cased key":     strings.Replace(good, `"found":`, `"Found":`, 1),
		"unknown key":       strings.Replace(good, `{"iss":`, `{"extra":1,"iss":`, 1),
		"stray closer":      good + "}",
		"second value":      good + " {}",
	} {
		t.Run(name, func(t *testing.T) { wantReason(t, open(payload), ReasonMalformed) })
	}
	if err := open(good + " \n"); err != nil {
		t.Fatalf("payload followed by white space: %v", err)
	}
}
