package trust

import (
	"strings"
	"testing"
	"time"
)

func receipt(t testing.TB, now time.Time, n int) Receipt {
	t.Helper()
	r := Receipt{Issuer: sh, To: gd, IssuedAt: now.Unix(), Nonce: mustJTI(t)}
	for i := 0; i < n; i++ {
		r.Entries = append(r.Entries, ReceiptEntry{JTI: mustJTI(t), Place: "station", Day: ReceiptDay(now), Proof: mustProof(t)})
	}
	return r
}

func TestReceiptRoundTrip(t *testing.T) {
	f := newTestFederation(t, testNow)
	r := receipt(t, f.Now, 3)
	raw, err := SealReceipt(f.SH.Active, r, &f.GD.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenReceipt(raw, sh, f.SH.Keys, gd, f.GD.Enc, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 3 || got.Entries[0] != r.Entries[0] {
		t.Fatalf("opened %+v", got)
	}
	_, err = OpenReceipt(raw, sh, f.SH.Keys, bj, f.BJ.Enc, f.Now)
	wantReason(t, err, ReasonNotRecipient)
}

// TestLargestReceiptFitsItsLimit: a receipt of MaxReceiptEntries
// entries, each of the longest kind of place and with its proof of scan,
// seals within MaxReceiptLen, which the sender's NATS connection and the
// home node hold it to.
func TestLargestReceiptFitsItsLimit(t *testing.T) {
	f := newTestFederation(t, testNow)
	r := receipt(t, f.Now, MaxReceiptEntries)
	for i := range r.Entries {
		r.Entries[i].Place = strings.Repeat("w", maxPlaceLen)
	}
	raw, err := SealReceipt(f.SH.Active, r, &f.GD.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > MaxReceiptLen {
		t.Fatalf("the largest receipt seals to %d bytes, limit %d", len(raw), MaxReceiptLen)
	}
	if _, err := OpenReceipt(raw, sh, f.SH.Keys, gd, f.GD.Enc, f.Now); err != nil {
		t.Fatal(err)
	}
}

func TestOpenReceiptRefuses(t *testing.T) {
	f := newTestFederation(t, testNow)
	with := func(mod func(*Receipt)) Receipt { r := receipt(t, f.Now, 2); mod(&r); return r }
	none := func(*Receipt) {}
	for _, tc := range []struct {
		name string
		raw  string
		want Reason
	}{
		{"signed by a key not in the sender's keyset", sealAny(t, f.BJ.Active, TypReceipt, with(none), f.GD), ReasonUnknownKey},
		{"in another province's name", sealAny(t, f.SH.Active, TypReceipt, with(func(r *Receipt) { r.Issuer = bj }), f.GD), ReasonWrongSigner},
		{"addressed to another province", sealAny(t, f.SH.Active, TypReceipt, with(func(r *Receipt) { r.To = bj }), f.GD), ReasonNotRecipient},
		{"stale", sealAny(t, f.SH.Active, TypReceipt, receipt(t, f.Now.Add(-LookupWindow-time.Second), 2), f.GD), ReasonExpired},
		{"of another typ", sealAny(t, f.SH.Active, TypLookup, with(none), f.GD), ReasonWrongType},
		{"empty", sealAny(t, f.SH.Active, TypReceipt, with(func(r *Receipt) { r.Entries = nil }), f.GD), ReasonMalformed},
		{"too many", sealAny(t, f.SH.Active, TypReceipt, receipt(t, f.Now, MaxReceiptEntries+1), f.GD), ReasonMalformed},
		{"a verification two days old", sealAny(t, f.SH.Active, TypReceipt, with(func(r *Receipt) { r.Entries[0].Day = ReceiptDay(f.Now.AddDate(0, 0, -2)) }), f.GD), ReasonMalformed},
		{"a verification tomorrow", sealAny(t, f.SH.Active, TypReceipt, with(func(r *Receipt) { r.Entries[0].Day = ReceiptDay(f.Now.AddDate(0, 0, 1)) }), f.GD), ReasonMalformed},
		{"a day that is not a date", sealAny(t, f.SH.Active, TypReceipt, with(func(r *Receipt) { r.Entries[0].Day = "2026-11-31" }), f.GD), ReasonMalformed},
		{"with the time of the verification", sealAny(t, f.SH.Active, TypReceipt, map[string]any{"iss": sh, "to": gd, "iat": f.Now.Unix(),
			"nonce": mustJTI(t), "entries": []map[string]any{{"jti": mustJTI(t), "day": ReceiptDay(f.Now), "t": f.Now.Unix()}}}, f.GD), ReasonMalformed},
		{"a proof of scan that is not one", sealAny(t, f.SH.Active, TypReceipt, with(func(r *Receipt) { r.Entries[0].Proof = "proof" }), f.GD), ReasonMalformed},
		{"a place that is not a kind", sealAny(t, f.SH.Active, TypReceipt, with(func(r *Receipt) { r.Entries[0].Place = "人民广场 gate 3" }), f.GD), ReasonMalformed},
		{"with a scanner id", sealAny(t, f.SH.Active, TypReceipt, map[string]any{"iss": sh, "to": gd, "iat": f.Now.Unix(),
			"nonce": mustJTI(t), "entries": []map[string]any{{"jti": mustJTI(t), "day": ReceiptDay(f.Now), "scanner": "sc_1"}}}, f.GD), ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenReceipt(tc.raw, sh, f.SH.Keys, gd, f.GD.Enc, f.Now)
			wantReason(t, err, tc.want)
		})
	}
}

// A receipt day is China Standard Time's: 23:30 UTC is already the next
// day in every province, and a batch sent just after midnight may still
// carry the day before.
func TestReceiptDayIsChinaStandardTimesAndAcceptsYesterday(t *testing.T) {
	late := time.Date(2026, 11, 29, 23, 30, 0, 0, time.UTC)
	if got := ReceiptDay(late); got != "2026-11-30" {
		t.Fatalf("ReceiptDay(%v) = %s, want 2026-11-30", late, got)
	}
	f := newTestFederation(t, testNow)
	r := receipt(t, f.Now, 1)
	r.Entries[0].Day = ReceiptDay(f.Now.AddDate(0, 0, -1))
	raw, err := SealReceipt(f.SH.Active, r, &f.GD.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReceipt(raw, sh, f.SH.Keys, gd, f.GD.Enc, f.Now); err != nil {
		t.Fatalf("yesterday's verification refused: %v", err)
	}
}
