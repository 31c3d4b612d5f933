package federation

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// WriteSeeds writes each seed of gen to its file in dir, readable by its
// owner only (0600), and returns the files it wrote. A file that already
// holds its seed (kept, see AccountsOptions.Keep) is left alone. It
// refuses to replace a file holding another seed unless force is set: the
// server configuration names the new public keys, and a node holding the
// old seed would be locked out.
func WriteSeeds(dir string, gen *GeneratedConfig, force bool) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var todo []Seed
	for _, s := range gen.Seeds {
		old, err := os.ReadFile(filepath.Join(dir, s.File))
		switch {
		case err == nil && bytes.Equal(bytes.TrimSpace(old), s.Seed):
			continue
		case err == nil && !force:
			return nil, fmt.Errorf("%s holds another seed: refusing to replace it (the node holding it would be locked out); pass --force to replace seeds", filepath.Join(dir, s.File))
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
		todo = append(todo, s)
	}
	var wrote []string
	for _, s := range todo {
		path := filepath.Join(dir, s.File)
		if err := os.WriteFile(path, s.Seed, 0o600); err != nil {
			return wrote, err
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return wrote, err
		}
		wrote = append(wrote, s.File)
	}
	return wrote, nil
}

// ReadSeeds reads the seed files GenerateServerConfig names for members
// from dir, for AccountsOptions.Keep; missing files are skipped.
func ReadSeeds(dir string, members []string) (map[string][]byte, error) {
	files := []string{SeedFile("", RoleOperator)}
	for _, p := range members {
		for _, r := range []string{RoleNode, RoleAdmin, RoleVerifier} {
			files = append(files, SeedFile(p, r))
		}
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[f] = bytes.TrimSpace(b)
	}
	return out, nil
}

// SeedFile is the file name GenerateServerConfig gives the seed of
// province p's user in role (p is ignored for RoleOperator).
func SeedFile(p, role string) string {
	switch role {
	case RoleOperator:
		return "operator.nk"
	case RoleNode:
		return p + ".nk"
	}
	return p + "-" + role + ".nk"
}

// SetupConfig says where a federation in accounts mode runs and where the
// operators keep the admin seeds GenerateServerConfig made.
type SetupConfig struct {
	URLs       []string
	Federation string
	Members    []string
	SeedDir    string // holds operator.nk and <p>-admin.nk
	Replicas   int
	// OnePass makes each connection fail at once when no server can be
	// reached (ConnConfig.OnePass), for a command an operator runs
	// against servers already up (hcnode nats-setup), rather than retry
	// until ctx ends.
	OnePass bool
}

// SetupAccounts creates or updates the JetStream assets of every account:
// the operators' with the operator seed, each province's with its admin
// seed, sourcing the aggregates from every member. Run it after starting
// the server with a configuration GenerateServerConfig wrote, and again
// after regenerating it for a new member (the aggregates gain a source).
// Where an aggregate has no replicas to step down to, it then sets its
// sources up again that are still unheard (restartUnheardSources): a
// restarted server leaves those of the account it restores first waiting
// some 40 s.
func SetupAccounts(ctx context.Context, cfg SetupConfig) error {
	members, err := checkMembers(cfg.Federation, cfg.Members)
	if err != nil {
		return err
	}
	var conns []*Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, who := range append([]string{""}, members...) {
		role, as := RoleAdmin, RoleAdmin+" "+who
		if who == "" {
			role, as = RoleOperator, RoleOperator
		}
		c, err := Connect(ctx, ConnConfig{URLs: cfg.URLs, Federation: cfg.Federation, Province: who,
			Name: "hcfed-setup", NKeySeedFile: filepath.Join(cfg.SeedDir, SeedFile(who, role)),
			Isolation: IsolationAccounts, Members: members, Replicas: cfg.Replicas, OnePass: cfg.OnePass})
		if err != nil {
			return fmt.Errorf("%s: %w", as, err)
		}
		conns = append(conns, c)
		if err := whilePlacing(ctx, setupAttemptWait, nil, c.ensureOwnAssets); err != nil {
			return fmt.Errorf("%s: %w", as, err)
		}
	}
	var errs []error
	for _, c := range conns {
		if err := c.EnsureStreamsPlaced(ctx, nil); err != nil {
			errs = append(errs, fmt.Errorf("account of %s: %w", cmp.Or(c.Province(), "the operators"), err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	settled := time.Now().Add(sourceSettle) // one wait for every account's sources
	for _, c := range conns {
		if _, err := c.restartUnheardSources(ctx, settled); err != nil {
			errs = append(errs, fmt.Errorf("account of %s: %w", cmp.Or(c.Province(), "the operators"), err))
		}
	}
	return errors.Join(errs...)
}

// SeedMembers lists the provinces that have an admin seed in dir: the
// members of the configuration GenerateServerConfig wrote there.
func SeedMembers(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		p, ok := strings.CutSuffix(e.Name(), "-"+RoleAdmin+".nk")
		if ok && ValidateProvince(p) == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// WriteAccountsConfig generates the accounts-mode configuration of
// members into dir, keeping the seeds already there and adding the
// missing ones, and returns the configuration file's path.
func WriteAccountsConfig(dir string, members []string, o AccountsOptions) (string, error) {
	keep, err := ReadSeeds(dir, members)
	if err != nil {
		return "", err
	}
	o.Keep = keep
	gen, err := GenerateServerConfig(members, o)
	if err != nil {
		return "", err
	}
	if _, err := WriteSeeds(dir, gen, false); err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "nats-server.conf")
	return conf, os.WriteFile(conf, gen.Config, 0o600)
}

// EnsureStreamsPlaced is EnsureStreams for a one-shot command (hcnode
// nats-setup, trust publish) that may run right after the cluster
// started: it tries again while JetStream cannot place a stream's
// replicas yet, for up to PlacementWait or until ctx ends, calling
// waiting (if not nil) with the error before its first wait. A running
// node calls EnsureStreams, whose caller has its own retries.
func (c *Conn) EnsureStreamsPlaced(ctx context.Context, waiting func(error)) error {
	return whilePlacing(ctx, setupAttemptWait, waiting, c.EnsureStreams)
}

// whilePlacing runs ensure, and again while it fails only because the
// cluster cannot place a stream's replicas yet (a cluster just started),
// for up to PlacementWait; then it says what to check. waiting, if not
// nil, is told of the first such failure, before the first wait. Each
// run of ensure has up to attempt: one still waiting then (for a
// JetStream API reply that was lost) is given up and ensure runs again
// at once, while ctx lasts; it reads what the earlier run created.
func whilePlacing(ctx context.Context, attempt time.Duration, waiting func(error), ensure func(context.Context) error) error {
	start := time.Now()
	for n := 0; ; n++ {
		_, err := retryLost(ctx, attempt, func(actx context.Context) (struct{}, error) { return struct{}{}, ensure(actx) })
		if err == nil || !isNoPeers(err) {
			return err
		}
		if n == 0 && waiting != nil {
			waiting(err)
		}
		if time.Since(start) > PlacementWait || !placementBackoff.Sleep(ctx, n) {
			return fmt.Errorf("JetStream could not place the stream's replicas on enough servers (tried for %s): "+
				"check that every server of the cluster is up and has joined it (nats-server's /healthz?js-meta-only=true), "+
				"or ask for fewer replicas: %w", time.Since(start).Round(time.Second), err)
		}
	}
}

// isNoPeers reports whether err is JetStream's "no suitable peers for
// placement".
func isNoPeers(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == jsErrNoPeers
}
