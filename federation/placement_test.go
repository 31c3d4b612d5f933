package federation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// Right after a cluster starts, JetStream may answer "no suitable peers
// for placement" to a replicated stream; hcnode nats-setup tries again
// instead of failing. Any other error ends it at once.
func TestSetupTriesAgainWhileTheClusterCannotPlaceReplicas(t *testing.T) {
	noPeers := fmt.Errorf("ensure stream: %w", &jetstream.APIError{Code: 400, ErrorCode: jsErrNoPeers,
		Description: "no suitable peers for placement"})
	calls, told := 0, 0
	err := whilePlacing(t.Context(), func(err error) {
		if told++; !isNoPeers(err) || calls != 1 {
			t.Errorf("told of %v after %d calls, want the placement error after the first", err, calls)
		}
	}, func() error {
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
	if err := whilePlacing(t.Context(), nil, func() error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Errorf("whilePlacing with another error = %v after %d calls, want it at once", err, calls)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = whilePlacing(ctx, nil, func() error { return noPeers })
	if !isNoPeers(err) || !strings.Contains(err.Error(), "check that every server of the cluster is up") {
		t.Errorf("whilePlacing ended by its context = %v, want the placement error saying what to check", err)
	}
}
