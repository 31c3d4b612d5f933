package federation

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// One server serves every account, and its own limits (64K connections
// by default) are shared: with no limit of its own, one province's
// credentials, stolen or its node gone wrong, could open connections or
// subscriptions until the server refused everyone's. Each account now
// has its own (limits { max_connections, max_subscriptions }: the second
// bounds each connection's), and the connections' sum stays under the
// server's.
func TestAccountsConnectionAndSubscriptionFloodHarmOnlyTheFlooder(t *testing.T) {
	t.Parallel()
	const conns, subs = 3, 40
	f := runAccountsServer(t, func(o *AccountsOptions) { o.MaxConnections, o.MaxSubscriptions = conns, subs })
	dial := func(p string, errs chan<- error) (*nats.Conn, error) {
		seed, err := nats.NkeyOptionFromSeed(filepath.Join(f.dir, SeedFile(p, RoleNode)))
		if err != nil {
			t.Fatal(err)
		}
		opts := []nats.Option{seed, nats.NoReconnect(), nats.Timeout(5 * time.Second)}
		if errs != nil {
			opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				select {
				case errs <- err:
				default:
				}
			}))
		}
		nc, err := nats.Connect(f.s.ClientURL(), opts...)
		if err == nil {
			t.Cleanup(nc.Close)
		}
		return nc, err
	}

	// gd connects until its account's limit refuses it.
	var refused error
	for i := 0; i <= conns+1 && refused == nil; i++ {
		_, refused = dial(gd, nil)
	}
	if refused == nil || !strings.Contains(strings.ToLower(refused.Error()), "maximum account active connections") {
		t.Fatalf("connection %d of gd's account: %v, want its account's limit to refuse it", conns+1, refused)
	}

	// sh still connects, as many times as its own limit allows.
	shc, err := dial(sh, nil)
	if err != nil {
		t.Fatalf("sh connects while gd's account is full: %v", err)
	}

	// A subscription flood on one connection is refused past the
	// account's limit for a connection.
	errs := make(chan error, 1)
	bjc, err := dial(bj, errs)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= subs+5; i++ {
		if _, err := bjc.Subscribe(fmt.Sprintf("_INBOX_110000.flood%d", i), func(*nats.Msg) {}); err != nil {
			break
		}
	}
	_ = bjc.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "maximum subscriptions") {
			t.Fatalf("bj's subscription flood: %v, want the account's subscription limit", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bj subscribed past its account's limit, and no error came")
	}
	// ... and sh, whose account's limit is its own, subscribes up to it.
	// The server answers the subscriptions in order, before Flush's pong:
	// an error it sent is in LastError once Flush returns.
	if bjc.LastError() == nil {
		t.Fatal("bj's flooding connection holds no error after its flush: this test cannot see sh's")
	}
	for i := range subs - 1 {
		if _, err := shc.Subscribe(fmt.Sprintf("_INBOX_310000.s%d", i), func(*nats.Msg) {}); err != nil {
			t.Fatalf("sh's subscription %d: %v", i, err)
		}
	}
	if err := shc.Flush(); err != nil || shc.LastError() != nil {
		t.Fatalf("sh's subscriptions after bj's flood: %v", errors.Join(err, shc.LastError()))
	}
}
