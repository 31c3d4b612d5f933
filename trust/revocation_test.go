package trust

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func revocationOf(t *testing.T, p *testProvince, seq uint64, now time.Time, jtis ...string) Revocation {
	t.Helper()
	r := Revocation{Issuer: p.ID, Seq: seq, IssuedAt: now.Unix()}
	for _, j := range jtis {
		r.Entries = append(r.Entries, RevocationEntry{JTI: j, Expires: now.Add(time.Hour).Unix()})
	}
	return r
}

func signRevocation(t *testing.T, s *StatementSigner, r any) string {
	t.Helper()
	raw, err := s.Sign(TypRevocation, r)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestParseRevocationAcceptsActiveAndRetiredKeys(t *testing.T) {
	f := newTestFederation(t, testNow)
	jti := mustJTI(t)
	for _, s := range []*StatementSigner{f.GD.Active, f.GD.Retired} {
		r, err := ParseRevocation(signRevocation(t, s, revocationOf(t, f.GD, 7, f.Now, jti)), gd, f.GD.Keys)
		if err != nil {
			t.Fatal(err)
		}
		if r.Issuer != gd || r.Seq != 7 || len(r.Entries) != 1 || r.Entries[0].JTI != jti {
			t.Fatalf("revocation %+v", r)
		}
	}
	// An empty statement is fine: it only advances seq.
	if _, err := ParseRevocation(signRevocation(t, f.GD.Active, revocationOf(t, f.GD, 8, f.Now)), gd, f.GD.Keys); err != nil {
		t.Fatal(err)
	}
}

// Shanghai cannot revoke Guangdong's codes: neither with its own key
// (not in Guangdong's keyset: unknown_key, as any kid Guangdong has not
// published) nor by naming Guangdong as issuer.
func TestParseRevocationRejectsStatementSignedByAnotherProvince(t *testing.T) {
	f := newTestFederation(t, testNow)
	raw := signRevocation(t, f.SH.Active, revocationOf(t, f.GD, 1, f.Now, mustJTI(t)))
	_, err := ParseRevocation(raw, gd, f.GD.Keys)
	wantReason(t, err, ReasonUnknownKey)
	// Signed by Guangdong's key but about Shanghai.
	raw = signRevocation(t, f.GD.Active, revocationOf(t, f.SH, 1, f.Now, mustJTI(t)))
	_, err = ParseRevocation(raw, gd, f.GD.Keys)
	wantReason(t, err, ReasonWrongSigner)
	_, err = ParseRevocation(raw, sh, f.SH.Keys)
	wantReason(t, err, ReasonUnknownKey) // Guangdong's key is not in Shanghai's keyset
}

func TestParseRevocationRejectsCompromisedAndNextKeys(t *testing.T) {
	f := newTestFederation(t, testNow)
	r := revocationOf(t, f.GD, 1, f.Now, mustJTI(t))
	_, err := ParseRevocation(signRevocation(t, f.GD.Compromised, r), gd, f.GD.Keys)
	wantReason(t, err, ReasonKeyCompromised)
	_, err = ParseRevocation(signRevocation(t, f.GD.Next, r), gd, f.GD.Keys)
	wantReason(t, err, ReasonKeyNotActive)
}

// TestParseRevocationNamingANextKeyWithAnotherKeysSignatureIsBadSignature:
// key_not_active tells a peer to wait for the keyset that activates the
// key, so only a statement that key really signed may get it; a forgery
// that merely names a next key is a bad signature.
func TestParseRevocationNamingANextKeyWithAnotherKeysSignatureIsBadSignature(t *testing.T) {
	f := newTestFederation(t, testNow)
	r := revocationOf(t, f.GD, 1, f.Now, mustJTI(t))
	next, _, _ := splitJWS(t, signRevocation(t, f.GD.Next, r))
	_, p, s := splitJWS(t, signRevocation(t, mustSigner(t, mustKey(t)), r))
	_, err := ParseRevocation(next+"."+p+"."+s, gd, f.GD.Keys)
	wantReason(t, err, ReasonBadSignature)
}

func TestParseRevocationRejectsBadSignatureAndType(t *testing.T) {
	f := newTestFederation(t, testNow)
	r := revocationOf(t, f.GD, 1, f.Now, mustJTI(t))
	h, p, s := splitJWS(t, signRevocation(t, f.GD.Active, r))
	sig := mustDecode(t, s)
	sig[40] ^= 1
	_, err := ParseRevocation(h+"."+p+"."+b64(sig), gd, f.GD.Keys)
	wantReason(t, err, ReasonBadSignature)

	snap, err := f.GD.Active.Sign(TypSnapshot, r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseRevocation(snap, gd, f.GD.Keys)
	wantReason(t, err, ReasonWrongType)
	_, err = ParseRevocationSnapshot(BundleSnapshot(signRevocation(t, f.GD.Active, r)), gd, f.GD.Keys)
	wantReason(t, err, ReasonWrongType)
}

func TestParseRevocationRejectsMalformedEntries(t *testing.T) {
	f := newTestFederation(t, testNow)
	for name, e := range map[string]RevocationEntry{
		"empty jti":     {JTI: "", Expires: f.Now.Unix()},
		"short jti":     {JTI: "abc", Expires: f.Now.Unix()},
		"long jti":      {JTI: mustJTI(t) + "A", Expires: f.Now.Unix()},
		"no expiry":     {JTI: mustJTI(t), Expires: 0},
		"negative exp":  {JTI: mustJTI(t), Expires: -5},
		"code text jti": {JTI: "HCF1:eyJhbGciOiJFUzI1N", Expires: f.Now.Unix()}, // 22 chars but not base64url
	} {
		t.Run(name, func(t *testing.T) {
			r := revocationOf(t, f.GD, 1, f.Now)
			r.Entries = []RevocationEntry{e}
			_, err := ParseRevocation(signRevocation(t, f.GD.Active, r), gd, f.GD.Keys)
			wantReason(t, err, ReasonMalformed)
		})
	}
	// Unknown fields are refused, not ignored.
	payload, _ := json.Marshal(revocationOf(t, f.GD, 1, f.Now, mustJTI(t)))
	raw, err := f.GD.Active.SignBytes(TypRevocation, []byte(strings.Replace(string(payload), `{"iss"`, `{"all":true,"iss"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseRevocation(raw, gd, f.GD.Keys)
	wantReason(t, err, ReasonMalformed)
}

func TestParseRevocationRejectsTooManyEntries(t *testing.T) {
	f := newTestFederation(t, testNow)
	entries := make([]RevocationEntry, MaxRevocationEntries+1)
	for i := range entries {
		entries[i] = RevocationEntry{JTI: "AAAAAAAAAAAAAAAAAAAAAA", Expires: f.Now.Unix()}
	}
	wantReason(t, checkEntries(entries), ReasonOversized)
	wantReason(t, checkEntries(entries[:MaxRevocationEntries]), ReasonOK)
	// Signed, the same list is refused for its size before it is parsed.
	r := revocationOf(t, f.GD, 1, f.Now)
	r.Entries = entries
	_, err := ParseRevocation(signRevocation(t, f.GD.Active, r), gd, f.GD.Keys)
	wantReason(t, err, ReasonOversized)
}

func TestLiveDropsEntriesOfExpiredCodesAfterSkew(t *testing.T) {
	now := testNow
	es := []RevocationEntry{
		{JTI: "a", Expires: now.Add(-ClockSkew - time.Second).Unix()}, // expired beyond skew: dropped
		{JTI: "b", Expires: now.Add(-ClockSkew + time.Second).Unix()}, // within skew: kept
		{JTI: "c", Expires: now.Add(time.Hour).Unix()},
	}
	live := Live(es, now)
	if len(live) != 2 || live[0].JTI != "b" || live[1].JTI != "c" {
		t.Fatalf("Live = %+v", live)
	}
	if es[0].JTI != "a" || len(es) != 3 {
		t.Fatal("Live changed its input")
	}
	if len(Live(nil, now)) != 0 {
		t.Fatal("Live(nil) not empty")
	}
}

func TestRevocationOfMaxEntriesFitsStatementLimit(t *testing.T) {
	f := newTestFederation(t, testNow)
	entries := make([]RevocationEntry, MaxRevocationEntries)
	for i := range entries {
		jti, err := NewJTI(nil)
		if err != nil {
			t.Fatal(err)
		}
		entries[i] = RevocationEntry{JTI: jti, Expires: f.Now.Add(time.Hour).Unix()}
	}
	raw, err := f.GD.Active.Sign(TypRevocation, Revocation{Issuer: gd, Seq: 1, IssuedAt: f.Now.Unix(), Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > MaxStatementLen {
		t.Fatalf("a revocation of %d entries is %d bytes, over MaxStatementLen %d", MaxRevocationEntries, len(raw), MaxStatementLen)
	}
	if _, err := ParseRevocation(raw, gd, f.GD.Keys); err != nil {
		t.Fatalf("largest allowed revocation refused: %v", err)
	}
}

// TestProvinceStatementReasonTellsAnUnknownKidFromAnotherIssuer: a
// statement whose kid is not in the province's keyset is unknown_key —
// the reason the federation holds a statement on, until a keyset issued
// no earlier than it says whether its key exists — whether the kid is
// made up or another province's. Only a key that is in the keyset, used
// for another issuer, is wrong_signer.
func TestProvinceStatementReasonTellsAnUnknownKidFromAnotherIssuer(t *testing.T) {
	f := newTestFederation(t, testNow)
	rogue := mustSigner(t, mustKey(t))
	jti := mustJTI(t)
	revocation := func(s *StatementSigner, iss *testProvince) error {
		_, err := ParseRevocation(signRevocation(t, s, revocationOf(t, iss, 1, f.Now, jti)), gd, f.GD.Keys)
		return err
	}
	snapshot := func(s *StatementSigner, iss *testProvince) error {
		raw, err := BuildRevocationSnapshot(s, iss.ID, 1, f.Now.Unix(), []RevocationEntry{{JTI: jti, Expires: f.Now.Add(time.Hour).Unix()}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseRevocationSnapshot(raw, gd, f.GD.Keys)
		return err
	}
	heartbeat := func(s *StatementSigner, iss *testProvince) error {
		raw, err := s.Sign(TypHeartbeat, Heartbeat{Issuer: iss.ID, IssuedAt: f.Now.Unix()})
		if err != nil {
			t.Fatal(err)
		}
		var hb Heartbeat
		return ParseSigned(raw, TypHeartbeat, gd, f.GD.Keys, &hb)
	}
	grant := func(s *StatementSigner, iss *testProvince) error {
		raw, err := GrantContentKey(s, iss.ID, sh, &f.SH.Enc.PublicKey, f.GD.CK, f.Now)
		if err != nil {
			t.Fatal(err)
		}
		_, err = OpenContentKeyGrant(raw, gd, f.GD.Keys, sh, f.SH.Enc)
		return err
	}
	for name, parse := range map[string]func(*StatementSigner, *testProvince) error{
		"revocation": revocation, "snapshot": snapshot, "heartbeat": heartbeat, "grant": grant,
	} {
		t.Run(name, func(t *testing.T) {
			wantReason(t, parse(rogue, f.GD), ReasonUnknownKey)       // a kid nobody published
			wantReason(t, parse(f.SH.Active, f.GD), ReasonUnknownKey) // Shanghai's key: unknown to Guangdong's keyset
			if name != "heartbeat" {                                  // a heartbeat's issuer is checked by its reader
				wantReason(t, parse(f.GD.Active, f.SH), ReasonWrongSigner) // Guangdong's key, Shanghai's name
			}
			if err := parse(f.GD.Active, f.GD); err != nil {
				t.Fatalf("Guangdong's own statement: %v", err)
			}
		})
	}
}
