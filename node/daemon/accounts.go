package daemon

import (
	"context"
	"path/filepath"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/config"
)

// accountsDir is where a node's embedded NATS keeps the accounts-mode
// configuration and seeds (beside its JetStream store, <data>/nats).
func accountsDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, "nats-accounts") }

// UseEmbeddedAccounts gives cfg's embedded NATS server credentials: it
// writes a configuration with one account per member (and the operators)
// and the seeds into <data>/nats-accounts, keeping seeds already there,
// and points cfg at it and at its province's node seed. Start then sets
// the accounts' assets up with the admin seeds.
func UseEmbeddedAccounts(cfg *config.Config, members []string) error {
	dir := accountsDir(*cfg)
	conf, err := federation.WriteAccountsConfig(dir, members, federation.AccountsOptions{Federation: cfg.Federation})
	if err != nil {
		return err
	}
	cfg.NATS.ServerConf = conf
	cfg.NATS.NKeySeed = filepath.Join(dir, federation.SeedFile(cfg.Province, federation.RoleNode))
	cfg.NATS.Isolation = federation.IsolationAccounts
	return nil
}

// setupEmbeddedAccounts creates the assets of every account of the
// embedded server's accounts-mode configuration, with the admin seeds
// beside it.
func setupEmbeddedAccounts(ctx context.Context, cfg config.Config, url string) error {
	dir := filepath.Dir(cfg.NATS.ServerConf)
	members, err := federation.SeedMembers(dir)
	if err != nil {
		return err
	}
	return federation.SetupAccounts(ctx, federation.SetupConfig{URLs: []string{url}, Federation: cfg.Federation,
		Members: members, SeedDir: dir})
}
