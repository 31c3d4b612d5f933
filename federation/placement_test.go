package federation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Right after a cluster starts, JetStream may answer "no suitable peers
// for placement" to a replicated stream; hcnode nats-setup tries again
// instead of failing. Any other error ends it at once.
func TestSetupTriesAgainWhileTheClusterCannotPlaceReplicas(t *testing.T) {
	noPeers := fmt.Errorf("ensure stream: %w", &jetstream.APIError{Code: 400, ErrorCode: jsErrNoPeers,
		Description: "no suitable peers for placement"})
	calls, told := 0, 0
	err := whilePlacing(t.Context(), time.Minute, func(err error) {
		if told++; !isNoPeers(err) || calls != 1 {
			t.Errorf("told of %v after %d calls, want the placement error after the first", err, calls)
		}
	}, func(context.Context) error {
		if calls++; calls < 3 {
			return noPeers
		}
		return nil
	})
	if err != nil || calls != 3 || told != 1 {
		t.Errorf("whilePlacing = %v after %d calls, told %d times, want nil after 3, told once", err, calls, told)
	}

	other := errors.New("permission denied")
	calls = 0
	if err := whilePlacing(t.Context(), time.Minute, nil, func(context.Context) error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Errorf("whilePlacing with another error = %v after %d calls, want it at once", err, calls)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = whilePlacing(ctx, time.Minute, nil, func(context.Context) error { return noPeers })
	if !isNoPeers(err) || !strings.Contains(err.Error(), "check that every server of the cluster is up") {
		t.Errorf("whilePlacing ended by its context = %v, want the placement error saying what to check", err)
	}
}

// A JetStream API reply comes at most once. When one was lost on a
// cluster just started, hcnode nats-setup waited for it until its whole
// timeout ("admin 310000: ensure KV_hcfed_demo_310000: context deadline
// exceeded" in TestProvincesWithOwnAccountsOnANATSClusterOfProcesses):
// now an attempt waits attempt at most and is made again, which finds
// what the earlier one created. When the whole context ends, its error
// is returned.
func TestSetupTriesAgainWhenAnAttemptGetsNoReply(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	calls := 0
	err := whilePlacing(ctx, 50*time.Millisecond, nil, func(actx context.Context) error {
		if calls++; calls == 1 {
			<-actx.Done() // the reply never comes
			return fmt.Errorf("ensure KV_x: %w", actx.Err())
		}
		return nil
	})
	if err != nil || calls != 2 || ctx.Err() != nil {
		t.Errorf("whilePlacing = %v after %d calls (context: %v), want nil after 2, within the context", err, calls, ctx.Err())
	}

	short, cancelShort := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancelShort()
	calls = 0
	err = whilePlacing(short, 50*time.Millisecond, nil, func(actx context.Context) error {
		calls++
		<-actx.Done()
		return actx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) || calls < 2 || short.Err() == nil {
		t.Errorf("whilePlacing with no reply ever = %v after %d calls, want the deadline after the whole context", err, calls)
	}
}
