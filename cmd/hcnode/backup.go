package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/datadir"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

func newBackupCmd() *cobra.Command {
	var cfgPath, out, keysOut string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Copy the node's database while it serves (and, apart, its key store)",
		Long: `backup writes a consistent copy of node.db to --out, taken while the node
serves: every change committed before the copy began is in it. It is safe
to run beside a running node; it only reads.

Residents' data keys (keys.db) are copied only with --keys-out, which must
be another directory: a copy of keys.db brings back the data of residents
who asked to be deleted after it was taken, so keep key-store copies apart
from database copies, encrypted, and only for as long as you must (see
docs/privacy.md, "Backups and crypto-shredding"). Without a key-store copy,
a restore keeps the node's current keys.db, and residents enrolled after
the backup are lost.

Each copy is sealed with the node's KEK (in FILE.seal beside it: its
SHA-256, the other copy's, the backup's id and the time it was taken):
restore refuses a copy changed since, taken by another node, or a node.db
and a keys.db of different backups. Keep each seal with its copy.

The KEK is not copied: keep it in its own custody. Nor are the machine's
other files (the config, the TLS key, the metrics token of
metrics_token_file): a restore leaves them as they are, and a node
restored on a new machine is given its own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("--out DIR is required: where to write node.db")
			}
			if keysOut != "" && sameDir(out, keysOut) {
				return errors.New("--keys-out must be another directory than --out: keep key-store copies apart")
			}
			w := cmd.OutOrStdout()
			dst, kdst := filepath.Join(out, "node.db"), ""
			if keysOut != "" {
				kdst = filepath.Join(keysOut, store.KeysFile)
			}
			// Both places are checked before either copy is made.
			for _, d := range []struct{ path, flag string }{{dst, "--out"}, {kdst, "--keys-out"}} {
				if _, err := os.Lstat(d.path); d.path != "" && err == nil {
					return fmt.Errorf("%s already exists, and a backup never replaces one: give %s a new directory (one per day, say), or move the old copy away", d.path, d.flag)
				}
			}
			// The seal needs the KEK: without it, nothing is copied.
			kek, err := seal.LoadKEK(cfg.KEKPath())
			if err != nil {
				return err
			}
			if err := store.Backup(cmd.Context(), cfg.DBPath(), dst); err != nil {
				return err
			}
			prov, seq, err := store.CheckBackup(cmd.Context(), dst)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "database of province %s copied to %s (revocations up to seq %d)\n", prov, dst, seq)
			if keysOut != "" {
				if err := store.Backup(cmd.Context(), store.KeysPath(cfg.DBPath()), kdst); err != nil {
					return err
				}
				if err := store.CheckCopy(cmd.Context(), kdst); err != nil {
					return err
				}
				fmt.Fprintf(w, "key store copied to %s: keep it apart, encrypted, and short-lived\n", kdst)
			}
			// Both copies are sealed together, each naming the other.
			bs, err := store.SealBackup(cmd.Context(), kek, dst, kdst)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "sealed with this node's KEK (%s beside each copy) as backup %s, taken at %s: restore refuses a copy "+
				"changed since, on another node, or with a copy of another backup\n",
				store.BackupSealSuffix, bs.ID, stamp(bs.Taken))
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "hcnode.yaml", "the node's config file")
	cmd.Flags().StringVar(&out, "out", "", "directory for the database copy (required; created; node.db must not exist in it)")
	_ = cmd.MarkFlagRequired("out")
	cmd.Flags().StringVar(&keysOut, "keys-out", "", "directory for a copy of the key store (keys.db), apart from --out")
	return cmd
}

func newRestoreCmd() *cobra.Command {
	var cfgPath, from, keysFrom string
	var unpair, acceptUnsealed bool
	var yesFlag *bool
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Put a backup back in place of the node's database (node stopped)",
		Long: `restore replaces the node's node.db with the copy in --from (and keys.db with
the one in --keys-from, if given). It refuses while the node runs, and a
backup of another province. Without --yes it says what it would do and
changes nothing. Each copy must match the seal backup wrote beside it
with this node's KEK (backup_seal_mismatch: changed since, or another
node's); a copy without one (an earlier hcnode's) only with
--accept-unsealed. The seals bind a backup's copies together: a node.db
and a keys.db of different backups are refused (backup_mismatched_pair),
and the plan says when the backup was taken, as its seal records. The files it replaces are kept beside them, renamed
*.before-restore-TIME. It is all or nothing: both copies are made beside
their targets before anything is replaced, so a restore that fails (a
full disk) leaves the node's files as they were.

At its next start the node reconciles with the federation before it
publishes anything: it takes back its own revocations published after the
backup from the revocation stream, so codes revoked then stay revoked and
no revocation sequence number is used twice, revokes again the wallet
links replaced after the backup, and it publishes a keyset with a version
above the one peers hold.

Scanners removed, replicas removed, and operator tokens revoked or
accounts disabled after the backup work again, and the node cannot learn
of them: the restore lists what the backup holds (ids only) and names the
log lines to search since the backup to redo those removals.
--unpair-scanners removes every scanner instead, each to be registered
again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			yes := *yesFlag
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if from == "" {
				return errors.New("--from DIR is required: the directory holding the node.db copy")
			}
			if err := datadir.RequireOwner(cfg.DataDir, "restore"); err != nil {
				return err
			}
			lock, err := datadir.Acquire(cfg.DataDir, "restore")
			if err != nil {
				return err
			}
			defer lock.Unlock()
			src := filepath.Join(from, "node.db")
			keysSrc := ""
			if keysFrom != "" {
				keysSrc = filepath.Join(keysFrom, store.KeysFile)
			}
			// Each copy must be as this node sealed it: nothing else of
			// it is read before.
			kek, err := seal.LoadKEK(cfg.KEKPath())
			if err != nil {
				return err
			}
			seals, err := store.CheckBackupSeals(src, keysSrc, kek, acceptUnsealed)
			if errors.Is(err, store.ErrBackupUnsealed) {
				return fmt.Errorf("%w. A backup taken by an hcnode that did not seal its copies can be restored "+
					"with --accept-unsealed, once you know where it has been", err)
			}
			if err != nil {
				return err
			}
			prov, seq, err := store.CheckBackup(cmd.Context(), src)
			if err != nil {
				return err
			}
			if prov != cfg.Province {
				return fmt.Errorf("%s is a backup of province %s, and this node is %s: refusing", src, prov, cfg.Province)
			}
			if err := store.CheckRestore(cmd.Context(), src, keysSrc, cfg.DBPath()); err != nil {
				return err // with or without --yes: the plan would fail
			}
			summary, err := store.SummariseBackup(cmd.Context(), src, time.Now())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			// The plan: what it would do without --yes, what it is doing
			// with it (then "Restored." says it is done).
			form := plan{w: w, yes: yes}.form
			fmt.Fprintf(w, form("Restore of province %s from %s (revocations up to seq %d) would:\n", "Restoring province %s from %s (revocations up to seq %d):\n"), prov, src, seq)
			// A data directory of its own (a new machine) has nothing to
			// replace: say so, rather than name a kept file never made.
			if exists(cfg.DBPath()) {
				fmt.Fprintf(w, "  %s %s (kept as %s.before-restore-TIME)\n", form("replace", "replacing"), cfg.DBPath(), cfg.DBPath())
			} else {
				fmt.Fprintf(w, "  %s %s in place (there is none there now)\n", form("put", "putting"), cfg.DBPath())
			}
			keysReplaced := keysFrom != "" && exists(store.KeysPath(cfg.DBPath()))
			switch {
			case keysReplaced:
				fmt.Fprintf(w, "  %s %s with %s; the replaced one is kept as %s.before-restore-TIME\n", form("replace", "replacing"),
					store.KeysPath(cfg.DBPath()), filepath.Join(keysFrom, store.KeysFile), store.KeysPath(cfg.DBPath()))
			case keysFrom != "":
				fmt.Fprintf(w, "  %s %s in place from %s (there is none there now)\n", form("put", "putting"),
					store.KeysPath(cfg.DBPath()), filepath.Join(keysFrom, store.KeysFile))
			default:
				fmt.Fprintf(w, "  %s the current key store %s\n", form("keep", "keeping"), store.KeysPath(cfg.DBPath()))
			}
			printSeals(w, seals, time.Now())
			for _, f := range seals.Unsealed {
				fmt.Fprintf(w, "  WARNING: %s has no seal (%s): whoever could write where it was kept could have changed it "+
					"(statuses, scanners, tokens), and this restore cannot tell\n", f, filepath.Base(f)+store.BackupSealSuffix)
			}
			if unpair {
				fmt.Fprintf(w, "  %s every scanner the backup holds (%d), so that none works until registered again\n", form("remove", "removing"), len(summary.Scanners))
			}
			// The federation a standalone node reconciles with is its own
			// embedded server, whose store is in the data directory:
			// without it, nothing brings back the revocations made after
			// the backup. A node that never published one (an in-place
			// restore of a node never served) has no store to miss.
			if lost := daemon.EmbeddedNATSLost(cfg, seq > 0 || !exists(cfg.DBPath())); lost != "" {
				fmt.Fprintf(w, "  WARNING: this node's NATS server is embedded, and %s lacks %s: "+
					"the revocations made after the backup cannot be taken back at the next start, so codes revoked since "+
					"would verify again and their residents would not be held. Copy nats/ and nats-accounts/ "+
					"from the node's former data directory (that node stopped) before starting it; if they are lost, "+
					"send the health authority's status changes since the backup (hcnode statuses) before any scanner uses the node\n",
					cfg.DataDir, lost)
			}
			fmt.Fprintln(w, "  "+form("lose", "losing")+" what was done after the backup: residents enrolled, statuses set, codes issued, scanners and accounts added;")
			fmt.Fprintln(w, "  codes revoked after it stay revoked, but those residents are back at their earlier status;")
			fmt.Fprintln(w, "  the node holds them (no code issued: status_unconfirmed, counted in its log) until it is set again:")
			fmt.Fprintln(w, "  send the health authority's status changes made since the backup again (hcnode statuses)")
			if !yes {
				fmt.Fprintln(w, "  and have the node reconcile with the federation at its next start.")
				printRestoreReport(w, summary, unpair, false)
				fmt.Fprintln(w, notChanged)
				return nil
			}
			stamp, err := store.Restore(cmd.Context(), src, keysSrc, cfg.DBPath(), time.Now().UTC().Format("20060102T150405Z"),
				store.RestoreOptions{UnpairScanners: unpair, KEK: kek, Unsealed: seals.Unsealed, Checked: &seals})
			if err != nil {
				return err
			}
			printRestoreReport(w, summary, unpair, true)
			fmt.Fprintln(w, "Restored. Start the node; it reconciles with the federation before it publishes.")
			if keysReplaced {
				// The replaced key store holds the data key of every
				// resident it knew: deleting one now does not erase
				// their data while this copy exists.
				fmt.Fprintf(w, "The replaced key store is kept as %s.before-restore-%s: it holds the data keys of residents "+
					"deleted since, so their data is not erased while it exists. Shred it once the restore is confirmed.\n",
					store.KeysPath(cfg.DBPath()), stamp)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "hcnode.yaml", "the node's config file")
	cmd.Flags().StringVar(&from, "from", "", "directory holding the node.db copy (required)")
	_ = cmd.MarkFlagRequired("from")
	cmd.Flags().StringVar(&keysFrom, "keys-from", "", "directory holding a keys.db copy (optional)")
	yesFlag = addYesFlag(cmd, "the node's database is replaced by the backup's, and what was done after the backup is lost")
	cmd.Flags().BoolVar(&unpair, "unpair-scanners", false, "remove every scanner the backup holds: each must be registered again")
	cmd.Flags().BoolVar(&acceptUnsealed, "accept-unsealed", false, "restore a copy with no seal beside it (taken by an hcnode that did not seal backups)")
	return cmd
}

// exists reports whether a file is at path.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && filepath.Clean(aa) == filepath.Clean(bb)
}

// printSeals says, in a restore's plan, which backup its seals say it is
// and when it was taken, so that an older copy put in place of a newer
// one shows; or that an earlier hcnode's seals cannot say.
func printSeals(w io.Writer, s store.BackupSeals, now time.Time) {
	if s.ID != "" {
		pair := ""
		if s.Paired {
			pair = "; the database and key store copies are of that one backup"
		}
		fmt.Fprintf(w, "  backup %s, taken at %s (%s), as its seal says%s: check that it is the one you meant\n",
			s.ID, stamp(s.Taken), ago(now.Sub(s.Taken)), pair)
	}
	for _, f := range s.Earlier {
		fmt.Fprintf(w, "  NOTE: %s was sealed by an earlier hcnode: its seal binds that file alone, not the backup it is of "+
			"nor when it was taken; check that it is the copy you meant\n", f)
	}
}

// ago says how long ago something was, d before now, in whole days and
// hours, or minutes under an hour.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return count(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return count(int(d/time.Hour), "hour") + " ago"
	}
	return count(int(d/(24*time.Hour)), "day") + " " + count(int(d%(24*time.Hour)/time.Hour), "hour") + " ago"
}
