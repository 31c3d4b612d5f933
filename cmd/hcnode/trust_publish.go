package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/trust"
)

// defaultNATSTimeout bounds a one-shot command's whole conversation with
// NATS: connecting, checking and publishing.
const defaultNATSTimeout = 15 * time.Second

func newTrustPublishCmd() *cobra.Command {
	var natsURL, user, password, creds, seed string
	var timeout time.Duration
	var replicas int
	cmd := &cobra.Command{
		Use:   "publish FILE",
		Short: "Publish a signed trust list to the federation; refuses one nodes would not accept",
		Long: `Publish a signed trust list to the federation's NATS, as the federation
operator's NATS user. It refuses a list that nodes holding the current one
would refuse, and gives up after --timeout, saying which server it could
not reach and why: not reachable, credentials refused, or no permission
for the trust list's subject. It asks no confirmation: the k operators'
signatures are that (check them with 'hcnode trust show FILE' and 'hcnode
trust diff'); before publishing it prints what every node will apply
(members suspended or removed, keys, operators), relative to the version
the federation holds.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if err := unsignedProposal(args[0], raw); err != nil {
				return fmt.Errorf("refusing to publish: %w", err)
			}
			next, err := trust.ParseTrustList(raw)
			if err != nil {
				return err
			}
			if timeout <= 0 {
				return usageError{fmt.Errorf("--timeout %s: must be positive", timeout)}
			}
			if replicas < 1 || replicas > config.MaxNATSReplicas {
				return usageError{fmt.Errorf("--replicas %d: must be within [1, %d]", replicas, config.MaxNATSReplicas)}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			cfg := federation.ConnConfig{URLs: strings.Split(natsURL, ","), Federation: next.Federation,
				Name: "hcnode-trust-publish", User: orEnv(user, "HCNODE_NATS_USER"),
				Password: orEnv(password, "HCNODE_NATS_PASSWORD"), CredsFile: creds, NKeySeedFile: seed, Replicas: replicas}
			if seed != "" {
				cfg.Isolation = federation.IsolationAccounts // operator.nk of 'hcnode nats-config'
			}
			return publishTrustList(ctx, cmd.OutOrStdout(), cfg, timeout, next, raw)
		},
	}
	f := cmd.Flags()
	f.StringVar(&natsURL, "nats", defaultNATSURL, "NATS URL(s), comma-separated")
	f.StringVar(&user, "user", "", "NATS user (or $HCNODE_NATS_USER)")
	f.StringVar(&password, "password", "", "NATS password (or $HCNODE_NATS_PASSWORD; the flag shows in ps)")
	f.StringVar(&creds, "creds", "", "NATS credentials file")
	f.IntVar(&replicas, "replicas", 1, "JetStream replicas of the federation's streams it creates: the nodes' nats.replicas (3 on a 3-server cluster)")
	f.StringVar(&seed, "nkey-seed", "", "the operators' NKey seed (operator.nk of 'hcnode nats-config': one account per province)")
	f.DurationVar(&timeout, "timeout", defaultNATSTimeout, "give up after this long (connecting, checking and publishing together)")
	return cmd
}

// publishTrustList connects, checks next against the trust list the
// federation holds and publishes it, all within ctx.
func publishTrustList(ctx context.Context, w io.Writer, cfg federation.ConnConfig, timeout time.Duration, next *trust.ParsedTrustList, raw []byte) error {
	conn, err := federation.Connect(ctx, cfg)
	if err != nil {
		return natsError(cfg, "", "connect", timeout, err)
	}
	defer conn.Close()
	fail := func(step string, err error) error { return natsError(cfg, conn.Server(), step, timeout, err) }
	// Right after a cluster starts, JetStream may not place replicated
	// streams yet: wait for it (within --timeout), saying so.
	waiting := func(err error) {
		fmt.Fprintf(w, "waiting for the NATS cluster to place the federation's streams (%v); giving up after --timeout %s\n", err, timeout)
	}
	if err := conn.EnsureStreamsPlaced(ctx, waiting); err != nil {
		return fail("set up the federation's streams", err)
	}
	// The list is checked against the one the federation holds inside
	// the publication, after the revision it replaces was read: one
	// published by another operator meanwhile makes it fail, and is
	// never replaced by a list not checked against it.
	var checkErr error // check's own refusal, returned by PublishState as it is
	check := func(ctx context.Context) error {
		checkErr = checkAgainstHeld(ctx, w, conn, fail, next)
		return checkErr
	}
	// Each attempt has its own bounded wait, and one whose reply was lost
	// is made again, expecting the revision read first: no second
	// revision, and no other operator's publication overwritten.
	rev, err := conn.PublishState(ctx, "trustlist", raw, check)
	var held errAlreadyHeld
	switch {
	case err != nil && err == checkErr && errors.As(err, &held):
		fmt.Fprintf(w, "the federation already holds this trust list (version %d, sha256 %s): nothing to publish\n", held.version, held.sha256)
		return nil
	case err != nil && err == checkErr:
		return err
	case errors.Is(err, federation.ErrStateChanged):
		return fmt.Errorf("not published: the trust list the federation holds changed while this one was being published "+
			"(another operator published one?); run 'hcnode trust publish' again to check this list against it: %w", err)
	case err != nil:
		return fail("publish the trust list", err)
	}
	fmt.Fprintf(w, "published trust list version %d (revision %d, sha256 %s)\n", next.Version, rev, next.SHA256())
	return nil
}

// errAlreadyHeld is checkAgainstHeld's word for a trust list the
// federation holds already: a retry after a timeout whose publication
// went through.
type errAlreadyHeld struct {
	version uint64
	sha256  string
}

func (e errAlreadyHeld) Error() string {
	return fmt.Sprintf("the federation already holds trust list version %d", e.version)
}

// checkAgainstHeld checks next against the trust list the federation
// holds, saying what every node will apply; errAlreadyHeld if it holds
// next.
func checkAgainstHeld(ctx context.Context, w io.Writer, conn *federation.Conn, fail func(string, error) error, next *trust.ParsedTrustList) error {
	// The newest of the operators' own bucket and the shared one: in
	// accounts mode the shared one lags behind a publication just made.
	cur, err := conn.NewestTrustList(ctx)
	var unparsable *trust.Error
	switch {
	case errors.Is(err, federation.ErrNotFound):
		fmt.Fprintln(w, "the federation holds no trust list yet: publishing the first version (nodes accept it only if it matches their pinned hash)")
	case errors.As(err, &unparsable):
		return fmt.Errorf("the trust list the federation holds: %w", err)
	case err != nil:
		return fail("read the trust list it holds", err)
	default:
		// A retry after a timeout whose publication went through: done.
		if cur.SHA256() == next.SHA256() {
			return errAlreadyHeld{version: next.Version, sha256: next.SHA256()}
		}
		if err := trust.AcceptTrustList(cur, next, "", time.Now()); err != nil {
			return fmt.Errorf("refusing to publish: nodes holding version %d would refuse this one: %w", cur.Version, err)
		}
		// What every node will apply, in the words the operators signed.
		fmt.Fprintf(w, "replacing version %d held by the federation; every node applies:\n", cur.Version)
		for _, l := range trust.Diff(cur.TrustList, next.TrustList) {
			fmt.Fprintln(w, "  "+l)
		}
	}
	return nil
}

// violation is the server's own words for a refused subject.
var violation = regexp.MustCompile(`Permissions Violation for (Publish|Subscription) to "([^"]*)"`)

// natsFailure is a one-sentence message for an operator that still
// matches the underlying errors with errors.Is.
type natsFailure struct {
	msg string
	err error
}

func (e *natsFailure) Error() string { return e.msg }
func (e *natsFailure) Unwrap() error { return e.err }

// natsError says in one sentence which NATS server a one-shot command
// could not use and why: not reachable within the timeout, credentials
// refused, no permission for a subject, or no answer in time. server is
// the server connected to, "" if none.
func natsError(cfg federation.ConnConfig, server, step string, timeout time.Duration, err error) error {
	var msg string
	var ce *federation.ConnectError
	switch {
	case errors.As(err, &ce) && errors.Is(err, federation.ErrAuthFailed):
		msg = fmt.Sprintf("NATS server %s refused %s: wrong user, password or credentials file (%v)", ce.Servers, ce.As, ce.Err)
	case errors.As(err, &ce):
		msg = fmt.Sprintf("NATS server %s not reachable within %s: %v", ce.Servers, timeout, ce.Err)
	case errors.Is(err, federation.ErrPermissionDenied):
		what := "a subject it needs"
		if m := violation.FindStringSubmatch(err.Error()); m != nil && m[1] == "Publish" {
			what = fmt.Sprintf("publishing to %q", m[2])
		} else if m != nil {
			what = fmt.Sprintf("receiving replies on %q", m[2])
		}
		msg = fmt.Sprintf("NATS server %s refused %s permission to %s: no permission for %s (the trust list is published as the federation operator's NATS user)",
			server, cfg.Identity(), step, what)
	case errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("NATS server %s did not answer within %s when asked to %s (%v)", server, timeout, step, err)
	default:
		msg = fmt.Sprintf("NATS server %s: could not %s: %v", server, step, err)
	}
	return &natsFailure{msg: msg, err: err}
}
