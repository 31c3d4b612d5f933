package trust

import (
	"strings"
	"testing"
	"time"
)

func erasure(t testing.TB, now time.Time, n int) Erasure {
	t.Helper()
	e := Erasure{Issuer: gd, To: sh, IssuedAt: now.Unix(), Nonce: mustJTI(t)}
	for i := 0; i < n; i++ {
		e.Codes = append(e.Codes, "AbCd-_0123456789")
	}
	return e
}

// An erasure opens at the province it is addressed to, in its home
// province's name; its envelope says it is one without the key, and a
// receipt's does not.
func TestErasureRoundTripAndEnvelope(t *testing.T) {
	f := newTestFederation(t, testNow)
	e := erasure(t, f.Now, 2)
	raw, err := SealErasure(f.GD.Active, e, &f.SH.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenErasure(raw, gd, f.GD.Keys, sh, f.SH.Enc, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Issuer != gd || len(got.Codes) != 2 || got.Codes[0] != e.Codes[0] {
		t.Fatalf("opened %+v", got)
	}
	_, err = OpenErasure(raw, gd, f.GD.Keys, bj, f.BJ.Enc, f.Now)
	wantReason(t, err, ReasonNotRecipient)
	if !IsSealedErasure(raw) {
		t.Error("a sealed erasure's envelope does not say so")
	}
	rcpt, err := SealReceipt(f.SH.Active, receipt(t, f.Now, 1), &f.GD.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{rcpt, "", "x", "!!!.a.b.c.d", strings.Repeat("A", 2000) + ".a.b.c.d"} {
		if IsSealedErasure(s) {
			t.Errorf("IsSealedErasure(%.40q) = true", s)
		}
	}
}

func TestOpenErasureRefuses(t *testing.T) {
	f := newTestFederation(t, testNow)
	with := func(mod func(*Erasure)) Erasure { e := erasure(t, f.Now, 2); mod(&e); return e }
	none := func(*Erasure) {}
	for _, tc := range []struct {
		name string
		raw  string
		want Reason
	}{
		{"signed by a key not in the home's keyset", sealAny(t, f.BJ.Active, TypErasure, with(none), f.SH), ReasonUnknownKey},
		{"in another province's name", sealAny(t, f.GD.Active, TypErasure, with(func(e *Erasure) { e.Issuer = bj }), f.SH), ReasonWrongSigner},
		{"addressed to another province", sealAny(t, f.GD.Active, TypErasure, with(func(e *Erasure) { e.To = bj }), f.SH), ReasonNotRecipient},
		{"stale", sealAny(t, f.GD.Active, TypErasure, erasure(t, f.Now.Add(-LookupWindow-time.Second), 2), f.SH), ReasonExpired},
		{"a receipt", sealAny(t, f.GD.Active, TypReceipt, with(none), f.SH), ReasonWrongType},
		{"empty", sealAny(t, f.GD.Active, TypErasure, with(func(e *Erasure) { e.Codes = nil }), f.SH), ReasonMalformed},
		{"too many", sealAny(t, f.GD.Active, TypErasure, erasure(t, f.Now, MaxErasureCodes+1), f.SH), ReasonMalformed},
		{"a code reference that is not base64url", sealAny(t, f.GD.Active, TypErasure, with(func(e *Erasure) { e.Codes[0] = "a' OR 1=1" }), f.SH), ReasonMalformed},
		{"with a name", sealAny(t, f.GD.Active, TypErasure, map[string]any{"iss": gd, "to": sh, "iat": f.Now.Unix(),
			"nonce": mustJTI(t), "codes": []string{"AbCd"}, "name": "张三"}, f.SH), ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenErasure(tc.raw, gd, f.GD.Keys, sh, f.SH.Enc, f.Now)
			wantReason(t, err, tc.want)
		})
	}
}

// Only the acknowledgement of an erasure, which needs its sealed nonce,
// acknowledges it: not another erasure's, not one of another recipient,
// not an empty or garbled reply.
func TestErasureAckAcknowledgesOnlyItsErasure(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	e := erasure(t, now, 1)
	if err := CheckErasureAck(e, ErasureAck(e)); err != nil {
		t.Fatalf("the erasure's own ack refused: %v", err)
	}
	other := erasure(t, now, 1) // another nonce
	elsewhere := e
	elsewhere.To = bj
	for name, reply := range map[string][]byte{
		"another erasure's":   ErasureAck(other),
		"another recipient's": ErasureAck(elsewhere),
		"the nonce in clear":  []byte(e.Nonce),
		"empty":               nil,
		"truncated":           ErasureAck(e)[:10],
	} {
		t.Run(name, func(t *testing.T) { wantReason(t, CheckErasureAck(e, reply), ReasonBadSignature) })
	}
}
