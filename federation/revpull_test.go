package federation

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hcfed/hcfed/trust"
)

// A pull of the revocation consumer asks for up to c.pullBytes; the
// server ends it with "409 Message Size Exceeds MaxBytes" at the first
// message that does not fit what is left, and nats.go pulls again. These
// tests make the budget not divide evenly by the messages' size and
// check that no message is skipped at that boundary.

// TestConsumeRevocationsLargeMessagesNoneSkipped: 12 messages of 900 kB
// (as large as the stream allows), against the real budget of 8 MB: 9
// fit in the first pull, the 10th does not.
func TestConsumeRevocationsLargeMessagesNoneSkipped(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	big := func(c *ConnConfig) { c.MaxRevocationLen = streamMaxMsgSize }
	writer := connectReady(t, s, "440000", big)
	reader := connectReady(t, s, "310000", big)
	const n, size = 12, 900 << 10
	raws := make([][]byte, n)
	for i := range raws {
		raws[i] = append(fmt.Appendf(nil, "delta %d ", i), bytes.Repeat([]byte("x"), size)...)
	}
	publishDeltas(t, writer, "440000", 1, raws[:n-2])
	got, _ := consumeInto(t, reader, 0)
	got.waitLen(t, n-2)
	// And while the consumer is running, at the end of the stream.
	publishDeltas(t, writer, "440000", n-1, raws[n-2:])
	msgs := got.waitLen(t, n)
	for i, m := range msgs {
		if m.StreamSeq != uint64(i+1) || m.Dropped || !bytes.Equal(m.Data, raws[i]) {
			t.Fatalf("message %d: stream seq %d, dropped %v, %d bytes; want stream seq %d, %d bytes",
				i, m.StreamSeq, m.Dropped, len(m.Data), i+1, len(raws[i]))
		}
	}
}

// TestSyncAppliesLargeRevocationsAcrossPulls publishes full revocation
// statements (trust.MaxRevocationEntries entries, ~200 kB each), more
// than one pull holds, and checks that a peer applies every one, in
// order, with no gap to fill from a snapshot. The budget is lowered to
// 512 kB (2 statements and a part) to keep the test cheap.
func TestSyncAppliesLargeRevocationsAcrossPulls(t *testing.T) {
	t.Parallel()
	f, s, gdc := guangdongListed(t)
	const per, budget = trust.MaxRevocationEntries, 512 << 10
	raws := make([][]byte, 0, 8)
	for seq := 1; seq <= cap(raws); seq++ {
		raws = append(raws, f.revocationOf(gd, uint64(seq), f.entries(gd, seq*per, (seq+1)*per)))
	}
	if size := len(raws[0]); budget/size >= len(raws) || budget%size == 0 {
		t.Fatalf("%d statements of %d bytes do not test a %d-byte pull", len(raws), size, budget)
	}
	for i, raw := range raws {
		publishRev(t, gdc, gd, uint64(i+1), raw)
	}

	c := connectReady(t, s, sh)
	c.pullBytes = budget
	u := f.newSync(c, sh).run(t)
	u.waitReady(t)
	n := len(raws)
	if got := u.state.RevocationSeq(gd); got != uint64(n) {
		t.Fatalf("revocation seq of %s is %d, want %d", gd, got, n)
	}
	for seq := 1; seq <= n; seq++ {
		for _, k := range []int{seq * per, (seq+1)*per - 1} {
			if !u.state.Revoked(gd, jti(gd, k)) {
				t.Fatalf("code %d of statement %d not revoked", k, seq)
			}
		}
	}
	if got := u.outcomes.count("revocations/ok"); got != n {
		t.Errorf("revocations/ok reported %d times, want %d", got, n)
	}
	if st := u.Stats(); st.Rejected != 0 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
}
