package main

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/datadir"
	"github.com/hcfed/hcfed/node/store"
)

// offlineStore is a node's database opened by an offline command, with
// the data directory locked so that no node runs beside it.
type offlineStore struct {
	*store.DB
	lock *datadir.Lock
}

// Close closes the database and releases the data directory.
func (s offlineStore) Close() error { return errors.Join(s.DB.Close(), s.lock.Unlock()) }

// errSchemaBehind is the refusal of a command that only reads the
// database (verify, audit verify) when the database's schema is older
// than this build's: opening it would migrate it, as serve does, and an
// older build refuses a database a newer one migrated.
var errSchemaBehind = errors.New("database schema older than this build")

// openStoreToRead is openStore for a command that only reads the
// database. A database an older build wrote is refused, changing
// nothing, rather than migrated: the read would otherwise upgrade the
// database in passing (with the new binary installed, before serve
// ever ran it), and the older build could no longer open it.
func openStoreToRead(cmd *cobra.Command, cfgPath string) (offlineStore, config.Config, error) {
	return openStoreAs(cmd, cfgPath, true)
}

// openStore opens the database named by a config file, for offline
// commands. It refuses while the node (or another command) runs on the
// same data directory: an offline command beside a live node would read
// or change data the node holds in memory. It brings the schema up to
// date, as serve does.
func openStore(cmd *cobra.Command, cfgPath string) (offlineStore, config.Config, error) {
	return openStoreAs(cmd, cfgPath, false)
}

// openStoreAs is openStore, refusing a schema older than this build's
// when readOnly.
func openStoreAs(cmd *cobra.Command, cfgPath string, readOnly bool) (offlineStore, config.Config, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return offlineStore{}, cfg, err
	}
	if err := datadir.RequireNode(cfg.DataDir, cfg.DBPath()); err != nil {
		return offlineStore{}, cfg, err
	}
	lock, err := datadir.Acquire(cfg.DataDir, cmd.CommandPath())
	if err != nil {
		return offlineStore{}, cfg, err
	}
	if readOnly {
		if err := schemaCurrent(cmd, cfg); err != nil {
			lock.Unlock()
			return offlineStore{}, cfg, err
		}
	}
	db, err := store.Open(cmd.Context(), cfg.DBPath())
	if err != nil {
		lock.Unlock()
		return offlineStore{}, cfg, err
	}
	return offlineStore{DB: db, lock: lock}, cfg, nil
}

// schemaCurrent refuses, with what to do, a database whose schema is not
// this build's, reading it without a write (the caller holds the data
// directory's lock, so no node migrates it meanwhile).
func schemaCurrent(cmd *cobra.Command, cfg config.Config) error {
	ro, err := store.OpenReadOnly(cmd.Context(), cfg.DBPath())
	if err != nil {
		return err
	}
	pending, err := ro.Schema(cmd.Context())
	ro.Close()
	if err != nil || pending == 0 {
		return err
	}
	return fmt.Errorf("%w: %s was written by an older hcnode (%s behind) and '%s' only reads, so it changed nothing; "+
		"to upgrade, back it up (hcnode backup) and start the node with this build (hcnode check, then hcnode serve), "+
		"which migrates it (an older build then refuses it); to stay on the older build, run this command with it",
		errSchemaBehind, cfg.DBPath(), count(pending, "migration", "migrations"), cmd.CommandPath())
}

func newAuditCmd() *cobra.Command {
	audit := &cobra.Command{Use: "audit", Short: "Check the node's hash-chained audit log, or find the lookups of a case in it"}
	var cfgPath string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the audit chain; exit 1 if any entry was edited, deleted, reordered or truncated",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, _, err := openStoreToRead(cmd, cfgPath)
			if err != nil {
				return err
			}
			defer db.Close()
			n, err := db.VerifyAudit(cmd.Context())
			if err != nil {
				return fmt.Errorf("audit log is NOT intact after %s: %w", count(n, "good entry", "good entries"), err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit log intact: %s, chain and head match\n", count(n, "entry", "entries"))
			return nil
		},
	}
	verify.Flags().StringVar(&cfgPath, "config", "hcnode.yaml", "the node's config file")
	audit.AddCommand(verify, newAuditLookupsCmd())
	return audit
}

// newAuditLookupsCmd is the auditor's way to the lookups of one case: the
// audit log keeps a case id only as a keyed tag, which the running node
// computes.
func newAuditLookupsCmd() *cobra.Command {
	var caseID, basis string
	cmd := &cobra.Command{
		Use:   "lookups --case-id ID [--legal-basis TEXT]",
		Short: "List every audit entry of a cross-province lookup made for one case, at this node",
		Long: `lookups lists the audit entries of the identity lookups made for a case: those
this node asked (lookup.request, lookup.result) and those it answered or
refused (lookup.answer, lookup.refuse), newest first. The audit log does not
hold case ids, only a tag the node computes with its own key, so ask the
running node. Give the case id as "-" to read it from stdin (kept out of ps
and shell history). Entries written before the tag was kept hold the case
id in clear, and are found by it too until the audit retention prunes them.
Each entry shows the legal basis stated while the lookup retention keeps it;
the log keeps only a tag of it. With --legal-basis, each entry also says
whether it stated that text (basis_matches), for as long as the entry is
kept. Only one of the two flags may be "-".`,
		Args: cobra.NoArgs,
	}
	cl := addClientFlags(cmd)
	cmd.Flags().StringVar(&caseID, "case-id", "", `the case id ("-": one line from stdin)`)
	cmd.Flags().StringVar(&basis, "legal-basis", "", `a legal basis to check each entry against ("-": one line from stdin)`)
	_ = cmd.MarkFlagRequired("case-id")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if caseID == "-" && basis == "-" {
			return errors.New(`only one of --case-id and --legal-basis can be read from stdin ("-")`)
		}
		if err := dashFromStdin(cmd, &caseID, "the case id", "--case-id -: stdin held no case id; give it on one line"); err != nil {
			return err
		}
		if err := dashFromStdin(cmd, &basis, "the legal basis", "--legal-basis -: stdin held no legal basis; give it on one line"); err != nil {
			return err
		}
		var out any
		in := map[string]string{"case_id": caseID, "legal_basis": basis}
		if err := cl.do(cmd.Context(), http.MethodPost, "/v1/audit/lookups", in, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	return cmd
}

func newSunsetCmd() *cobra.Command {
	var cfgPath string
	var yes *bool
	cmd := &cobra.Command{
		Use:   "sunset",
		Short: "End the node's purpose: delete all personal data and keys, keep anonymous counts",
		Long: `sunset is for the end of the epidemic (or of the node's purpose). It refuses to run
while the node runs. Without --yes it only says what it would delete. With --yes
it deletes every resident record, consent, code, token, scanner, key and
cached statement in one transaction, keeping only anonymous counts and the
audit log. Deleting the keys makes any backup of the database unreadable
without the keys (crypto-shredding). The node will not start again. A node
sunset already is told so, with the counts kept, and nothing is changed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, cfg, err := openStore(cmd, cfgPath)
			if err != nil {
				return err
			}
			defer db.Close()
			w := cmd.OutOrStdout()
			// A second sunset has nothing to delete, and must not
			// replace the counts the first one kept.
			if at, kept, done, err := node.SunsetKept(cmd.Context(), db.DB); err != nil {
				return err
			} else if done {
				fmt.Fprintf(w, "Province %s was sunset at %s: nothing to do. It keeps the counts of what it deleted (%s, %s, %s) and the audit log.\n",
					cfg.Province, at.UTC().Format(time.RFC3339), count(kept.Subjects, "resident record"), count(kept.Codes, "code record"),
					count(kept.Scanners, "scanner"))
				return nil
			}
			c, err := node.SunsetPlan(cmd.Context(), db.DB)
			if err != nil {
				return err
			}
			if *yes {
				fmt.Fprintf(w, "Sunset of province %s: permanently deleting\n", cfg.Province)
			} else {
				fmt.Fprintf(w, "Sunset of province %s would permanently delete:\n", cfg.Province)
			}
			fmt.Fprintf(w, "  %s (with their data keys), %s, %s\n",
				count(c.Subjects, "resident record"), count(c.Consents, "consent record"), count(c.Appeals, "appeal"))
			fmt.Fprintf(w, "  %s, %s, %s\n", count(c.Codes, "code record"), count(c.Tokens, "token"), count(c.Scanners, "scanner"))
			fmt.Fprintf(w, "  %s (signing, root, encryption, content), %s, %s\n",
				count(c.Keys, "key"), count(c.Statements, "cached peer statement"), count(c.Revocations, "outbox row"))
			fmt.Fprintf(w, "  %s obtained from other provinces by lookup\n", count(c.Lookups, "contact record"))
			if !*yes {
				fmt.Fprintln(w, "and keep only these counts and the audit log. The node will not start again.")
				fmt.Fprintln(w, notChanged)
				return nil
			}
			if _, err := node.Sunset(cmd.Context(), db.DB, "operator", time.Now()); err != nil {
				return err
			}
			fmt.Fprintln(w, "Done: personal data and keys deleted; only these counts and the audit log are kept. The node will not start again.")
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "hcnode.yaml", "the node's config file")
	yes = addYesFlag(cmd, "every resident record and key is deleted for good, and the node never starts again")
	return cmd
}
