package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

func newInitCmd() *cobra.Command {
	var province, name, dataDir, listen, federation string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new province node: KEK, keys, database, config file and an operator token",
		Long: `init creates, in --data:
  kek.key      the key-encryption key (mode 0600; or set HCNODE_KEK instead)
  node.db      the database, with a new root key, encryption key, signing key
               and content key, all sealed under the KEK
  keys.db      the residents' data keys, sealed under the KEK, kept apart from
               node.db so that deleting a resident shreds every copy of
               node.db: keep it out of long-lived backups (docs/privacy.md)
  hcnode.yaml  a config file to run the node with 'hcnode serve --config'
and prints an operator token once. It refuses to touch an initialised node.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Default(province)
			cfg.Name, cfg.DataDir, cfg.Listen, cfg.Federation = name, dataDir, listen, federation
			abs, err := filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			cfg.DataDir = abs
			if ok, err := daemon.Initialized(cmd.Context(), cfg); err != nil {
				return err
			} else if ok {
				return fmt.Errorf("%s already holds a node; refusing to re-initialise it", dataDir)
			}
			tok, err := daemon.Init(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			cfgPath := filepath.Join(abs, "hcnode.yaml")
			if err := writeConfig(cfgPath, cfg); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Initialised province %s in %s\n", province, abs)
			fmt.Fprintf(out, "  config:         %s\n  KEK:            %s (back it up; without it the keys are lost)\n", cfgPath, cfg.KEKPath())
			fmt.Fprintf(out, "  root key:       %s (give it to the federation operators)\n", daemon.RootJWKPath(cfg))
			fmt.Fprintf(out, "  operator token: %s\n  (shown once; stored only as a hash)\n", tok)
			fmt.Fprintf(out, "Start it with: hcnode serve --config %s\n", cfgPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&province, "province", "", "GB/T 2260 province code, e.g. 440000 (required)")
	cmd.Flags().StringVar(&name, "name", "", "province name, e.g. Guangdong")
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory to create (required)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	cmd.Flags().StringVar(&federation, "federation", "demo", "federation id")
	_ = cmd.MarkFlagRequired("province")
	_ = cmd.MarkFlagRequired("data")
	return cmd
}

func writeConfig(path string, cfg config.Config) error {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
