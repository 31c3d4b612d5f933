package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node/daemon"
)

func newCheckCmd() *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Say whether serve would start the node, and why not, changing nothing",
		Long: `check is the node's preflight, as 'nginx -t' is nginx's: run it before
(re)starting a node or after editing its config. It checks what serve loads
and refuses with the same code, and says it in the same words: the config
(every mistake at once; a privacy.notice_version of an earlier build as a
warning), the privacy notice (a version already served that would now say
something else), the KEK and that it opens the database's keys, the data
directory, the database (opened read-only: its schema against this build,
SQLite's quick_check), the key store keys.db (read-only, quick_check; a
missing one is a FAIL when node.db holds residents, whose data keys it
held, as serve refuses then too, and a warning otherwise), the pinned
trust list and its expiry, the signing key's schedule, the admin tokens
(a warning within a week of the last one's expiry, or when none is valid:
'hcnode account recover-admin' mints one offline), the TLS certificate,
the listen addresses and the federation's NATS (an external server is
reached with the node's credentials; an embedded one's
configuration and seed, which init wrote into the data directory, are
read); for a verifier replica (role: verifier), its config,
replica.db and the fingerprint of its keys, its home node (one request
with the replica's token, which writes nothing there: is replica.home a
home node of the replica's province, does it accept the token, does it
trust the replica's keys, and if not the 'hcnode replica confirm' to
run there), TLS, listen addresses and NATS. Each check prints one line:

  ok    what: detail
  warn  what: what will bite soon, and what to do
  FAIL  what: why the node would not start or not serve, and what to do

It exits 0 when nothing FAILs (warnings allowed), 1 otherwise. It starts
nothing and writes no file: it never takes the data directory's lock, and
binds each listen address only to close it at once. A node running on the
data directory is reported as such, not as a failure.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := daemon.Check(cmd.Context(), cfgPath, daemon.CheckOptions{})
			fails, warns := r.Count(daemon.LevelFail), r.Count(daemon.LevelWarn)
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), map[string]any{"ok": fails == 0, "findings": r}); err != nil {
					return err
				}
			} else {
				for _, f := range r {
					fmt.Fprintln(cmd.OutOrStdout(), f)
				}
			}
			if fails > 0 {
				return fmt.Errorf("check failed: %s would stop the node or keep it from serving; fix the FAIL %s",
					count(fails, "problem"), noun(fails, "line", "lines"))
			}
			if !asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "check passed: nothing would stop the node from starting (%s)\n", count(warns, "warning"))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "hcnode.yaml", "the node's config file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the findings as JSON, for machines")
	return cmd
}
