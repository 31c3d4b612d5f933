package main

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// newAccountRecoverAdminCmd is the break-glass: an admin token minted
// offline, by whoever holds the node's data directory and KEK, for a
// province whose every admin token has expired.
func newAccountRecoverAdminCmd() *cobra.Command {
	var cfgPath, by, label, lifetime string
	cmd := &cobra.Command{
		Use:   "recover-admin NAME --by YOUR_NAME",
		Short: "Break-glass: mint an admin token offline, on the node's machine, when no admin token is left",
		Long: `recover-admin is the way back for a province whose every admin token has
expired or was lost: every other 'account' command needs one. Run it on the
node's machine, as the node's user (sudo -u hcnode), with the node's config
and the KEK the node runs with (kek_file, or $HCNODE_KEK): it opens the
node's database, and mints a token for the admin account NAME (an account of
that name is made, role admin, if there is none; a disabled account, or one
of another role, is refused), printed once.

It is safe while the node runs: it writes the token and its audit entry
through SQLite beside the node, which accepts the token from its first
request. It refuses a database of another build's schema (it never migrates
one), a data directory another command holds (restore, sunset) or another
user owns, and a KEK that does not open the node's token key, changing
nothing.

It is recorded in the audit log as account.break_glass, by
"break-glass:YOUR_NAME" (--by), with the machine user it ran as (and the
sudo user), the host, the token's id and expiry. The token works for
--lifetime (default 1h, at most tokens.operator_lifetime): use it to mint
the admins tokens of their own ('hcnode account token NAME'), then let it
expire or revoke it. Without --yes it says what it would do and changes
nothing.`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&cfgPath, "config", "hcnode.yaml", "the node's config file")
	cmd.Flags().StringVar(&by, "by", "", "who is recovering (your name as the audit log shall give it: letters, digits, '.', '_', '-'; required)")
	cmd.Flags().StringVar(&label, "label", "break-glass", "what the token is for")
	cmd.Flags().StringVar(&lifetime, "lifetime", "", "how long the token works (default 1h; at most tokens.operator_lifetime)")
	_ = cmd.MarkFlagRequired("by")
	yes := addYesFlag(cmd, "an admin token is minted and printed once")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var life time.Duration
		if lifetime != "" {
			var err error
			if life, err = time.ParseDuration(lifetime); err != nil || life <= 0 {
				return usageError{fmt.Errorf("--lifetime %q: give a duration such as 1h or 30m", lifetime)}
			}
		}
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return err
		}
		const command = "account recover-admin"
		r, err := daemon.OpenRecovery(cmd.Context(), cfg, command)
		if err != nil {
			return err
		}
		defer r.Close()
		bg := node.BreakGlass{Account: args[0], By: by, Label: label, Lifetime: life, SudoUser: sudoUser()}
		bg.OSUser, bg.Host = osUser(), hostName()
		target, err := r.Check(cmd.Context(), bg, time.Now())
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		p := plan{w: w, yes: *yes}
		p.head("Recovering admin access to province %s", cfg.Province)
		if target.Exists {
			p.step(fmt.Sprintf("mint a token for admin account %s (%s now), valid for %s, printed once",
				target.Account.Name, count(target.LiveTokens, "valid token"), target.Lifetime),
				fmt.Sprintf("minting a token for admin account %s (%s now), valid for %s, printed once",
					target.Account.Name, count(target.LiveTokens, "valid token"), target.Lifetime))
		} else {
			p.step(fmt.Sprintf("create admin account %s and mint its first token, valid for %s, printed once", args[0], target.Lifetime),
				fmt.Sprintf("creating admin account %s and minting its first token, valid for %s, printed once", args[0], target.Lifetime))
		}
		who := "machine user " + bg.OSUser
		if bg.SudoUser != "" {
			who += " (sudo by " + bg.SudoUser + ")"
		}
		p.step(fmt.Sprintf("record it in the audit log as %s by %s:%s, %s on %s", node.ActionBreakGlass, node.ActorBreakGlass, by, who, bg.Host),
			fmt.Sprintf("recording it in the audit log as %s by %s:%s, %s on %s", node.ActionBreakGlass, node.ActorBreakGlass, by, who, bg.Host))
		if r.Beside != "" {
			p.note("The node running on this data directory (" + r.Beside + ") accepts the token from its first request.")
		} else {
			p.note("No node runs on this data directory: the token works once it is started.")
		}
		if p.stop() {
			return nil
		}
		tok, err := r.Mint(cmd.Context(), bg, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  admin account:  %s (%s)\n", tok.Account, tok.AccountID)
		fmt.Fprintf(w, "  admin token:    %s\n", tok.Token)
		fmt.Fprintf(w, "  (shown once; stored only as a hash; token id %s; expires %s, in %s)\n", tok.TokenID, stamp(tok.Expires),
			target.Lifetime)
		fmt.Fprintf(w, "  %s\n", adminTokenMay)
		fmt.Fprintf(w, "Next: mint the admins tokens of their own with it (hcnode account token NAME --token ...), "+
			"then revoke this one (hcnode account revoke %s %s).\n", tok.Account, tok.TokenID)
		return nil
	}
	return cmd
}

// osUser names the machine account this process runs as, for the audit
// entry of a break-glass: its name, else its uid.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Geteuid())
}

// sudoUser is the login that ran this command through sudo ($SUDO_USER),
// if it reads as a login name: it goes into the audit entry and the plan.
func sudoUser() string {
	u := os.Getenv("SUDO_USER")
	if len(u) > 64 || strings.ContainsFunc(u, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) {
		return "(unreadable)"
	}
	return u
}

// hostName is this machine's name, or "unknown host".
func hostName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "unknown host"
}
