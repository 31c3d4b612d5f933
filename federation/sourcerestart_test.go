package federation

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// On one server an aggregate has no other leader to step down to, and
// nats-server sets a source up again only at its 10 s health check, or
// after a backoff of 10 s to 2 minutes once a set-up failed (after a
// restart: 30 s for an answer nobody gives, then 10 s). gd's own
// revocation stream disappears; once sh's copy has not heard from it for
// sourceHeardWithin the admins set the accounts up again: SetupAccounts
// recreates the stream and sets that source up again. sh's copy hears
// from gd's new stream within 9 s of the loss; the server alone would
// take more than 10 s. The source resumes where the new stream starts: a
// revocation published to it reaches sh.
func TestSetupAccountsSetsAnUnheardSourceUpAgainOnOneServer(t *testing.T) {
	t.Parallel()
	fx, f := newFixture(t), runAccountsServer(t)
	ctx := testCtx(t)
	atSH := firstRevocationReaches(t, fx, f.node(t, gd), f.node(t, sh))
	gdAdmin, shAdmin := f.conn(t, gd, RoleAdmin), f.conn(t, sh, RoleAdmin)
	gdOwn, shCopy := ownStreamName(testFed, gd), streamName(testFed)
	heardSince := func(since time.Time) func() error {
		return func() error {
			s, err := shAdmin.js.Stream(ctx, shCopy)
			if err != nil {
				return err
			}
			for _, src := range s.CachedInfo().Sources {
				if src.Name != gdOwn {
					continue
				}
				if src.Error != nil || src.Active < 0 || !time.Now().Add(-src.Active).After(since) {
					return fmt.Errorf("%s not heard from since %v: active %v, error %v", gdOwn, since.Format(time.StampMilli), src.Active, src.Error)
				}
				return nil
			}
			return fmt.Errorf("sh's copy has no source %s", gdOwn)
		}
	}
	testkit.WaitFor(t, 10*time.Second, 50*time.Millisecond, "sh's copy hearing from gd's stream", heardSince(time.Now().Add(-time.Second)))

	if err := gdAdmin.js.DeleteStream(ctx, gdOwn); err != nil {
		t.Fatal(err)
	}
	lost := time.Now()
	testkit.WaitFor(t, 10*time.Second, 50*time.Millisecond, "sh's copy not hearing from gd's lost stream", func() error {
		if heardSince(time.Now().Add(-sourceHeardWithin))() == nil {
			return errors.New("still heard")
		}
		return nil
	})
	if err := SetupAccounts(ctx, SetupConfig{URLs: []string{f.s.ClientURL()}, Federation: testFed,
		Members: f.members, SeedDir: f.dir}); err != nil {
		t.Fatalf("SetupAccounts: %v", err)
	}
	testkit.WaitFor(t, 9*time.Second-time.Since(lost), 50*time.Millisecond, "sh's copy hearing from gd's new stream", heardSince(lost))
	t.Logf("heard again %v after the loss", time.Since(lost).Round(time.Millisecond))
	if err := f.node(t, gd).PublishRevocation(ctx, gd, 2, fx.revocation(gd, 2)); err != nil {
		t.Fatalf("PublishRevocation: %v", err)
	}
	if got := atSH.waitLenWithin(t, 2, 10*time.Second); got[1].Province != gd {
		t.Fatalf("second revocation from %s, want %s", got[1].Province, gd)
	}
}
