package main

import (
	"bufio"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/trust"
)

func newVerifyCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "verify [CODE]",
		Short: "Verify a code offline against the trust data in the node's database",
		Long: `verify checks a code with no network: against the keys, content keys and
revocations the node's database holds. The code is read from the argument
or, if absent, from standard input. It prints what a scanner would be told
(the issuing province only when the code's signature proves it) and exits 1
when the code is not valid.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code := ""
			if len(args) == 1 {
				code = args[0]
			} else {
				sc := bufio.NewScanner(cmd.InOrStdin())
				sc.Buffer(make([]byte, 0, 4096), trust.MaxCodeLen+2)
				if sc.Scan() {
					code = sc.Text()
				}
			}
			code = strings.TrimSpace(code)
			db, cfg, err := openStoreToRead(cmd, cfgPath)
			if err != nil {
				return err
			}
			defer db.Close()
			kek, err := seal.LoadKEK(cfg.KEKPath())
			if err != nil {
				return err
			}
			now := time.Now()
			st, err := node.OfflineState(cmd.Context(), db.DB, kek, cfg, now)
			if err != nil {
				return err
			}
			res := trust.Verify(code, st.Snapshot(), st, now)
			// What a scanner is told: the issuer only when the signature
			// proves it, the contents only of a valid code.
			if err := printJSON(cmd.OutOrStdout(), node.VerificationOf(res, now)); err != nil {
				return err
			}
			if !res.Valid() {
				return fmt.Errorf("code is not valid: %s", res.Reason)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "hcnode.yaml", "the node's config file")
	return cmd
}
