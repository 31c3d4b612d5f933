package federation

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// TestSyncCatchesUpWhenTheStreamEndsWithADroppedMessage: a publisher on
// a province's revocation subject (a rogue with the transport, or the
// province itself) puts a message over the consumer's size limit at the
// end of the stream. The Conn drops it before the Sync sees it; the Sync
// must still learn that it has read the stream to its end and become
// ready, rather than stay not ready (503 on /readyz, out of its load
// balancer) until some province publishes its next revocation.
func TestSyncCatchesUpWhenTheStreamEndsWithADroppedMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := runServer(t)
	rogue := connectReady(t, s, "", func(c *ConnConfig) { c.MaxRevocationLen = 1 << 20 })
	gdc := connectReady(t, s, gd)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	publishRev(t, gdc, gd, 1, f.revocation(gd, 1))
	publishRev(t, rogue, gd, 901, bytes.Repeat([]byte("A"), DefaultMaxRevocationLen+1))

	u := f.newSync(connectReady(t, s, sh), sh).run(t)
	checkFor(t, 10*time.Second, 5*time.Millisecond, u.Ready)
	if !u.state.Revoked(gd, jti(gd, 1)) {
		t.Error("the valid delta before the oversized one was not applied")
	}
	if st := u.conn.Stats(); st.RevocationsOversized != 1 {
		t.Errorf("conn stats %+v, want one oversized revocation dropped", st)
	}
	// The dropped message is behind the cursor: a restart does not read
	// it again.
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if c, _ := u.cache.RevocationCursor(t.Context()); c != 2 {
			return fmt.Errorf("cursor %d, want 2", c)
		}
		return nil
	})
}
