package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
)

// newAccountCmd manages the named operator accounts of a running node:
// who may use the node, with which tokens. Only an admin's token may add
// accounts, mint tokens and disable accounts; an operator's lists only
// its own account and may revoke its own tokens.
func newAccountCmd() *cobra.Command {
	ac := &cobra.Command{
		Use:   "account",
		Short: "Add, list and disable operator accounts; mint and revoke their tokens",
		Long: `Every person who runs the node has an account (role admin or operator) and
tokens of their own; the audit log names the account. The province's health
platform gets an account of role feed: its tokens may only send status
changes (hcnode statuses, hcnode status), nothing else. Tokens expire after
tokens.operator_lifetime (default 720h). Revoking a token or disabling an
account takes effect on the node's next request. Disabling cannot be
undone: without --yes, 'disable' says what it would do and changes
nothing. NAME may also be an account id (ac_...). Names are never reused.

These commands talk to the running node with an admin's or operator's
token, but one: when no admin token is left, 'recover-admin' mints one
offline, on the node's machine, with its config and KEK (break-glass).`,
	}
	ac.AddCommand(newAccountAddCmd(), newAccountListCmd(), newAccountTokenCmd(), newAccountRevokeCmd(), newAccountDisableCmd(),
		newAccountRecoverAdminCmd())
	return ac
}

func newAccountAddCmd() *cobra.Command {
	var role, label string
	cmd := &cobra.Command{Use: "add NAME", Short: "Add an account; prints its first token once", Args: cobra.ExactArgs(1)}
	cl := addAdminClientFlags(cmd)
	cmd.Flags().StringVar(&role, "role", "operator", "operator; admin (may manage accounts); or feed (the health platform: status changes only)")
	cmd.Flags().StringVar(&label, "label", "", "what the first token is for, e.g. the device")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return cl.print(cmd, http.MethodPost, "/v1/accounts", map[string]string{"name": args[0], "role": role, "label": label})
	}
	return cmd
}

func newAccountListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List accounts and their tokens' ids and expiry (an operator sees its own)", Args: cobra.NoArgs}
	cl := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return cl.print(cmd, http.MethodGet, "/v1/accounts", nil)
	}
	return cmd
}

func newAccountTokenCmd() *cobra.Command {
	var label, lifetime string
	cmd := &cobra.Command{Use: "token NAME", Short: "Mint another token for an account; prints it once", Args: cobra.ExactArgs(1)}
	cl := addAdminClientFlags(cmd)
	cmd.Flags().StringVar(&label, "label", "", "what the token is for, e.g. the device")
	cmd.Flags().StringVar(&lifetime, "lifetime", "", "how long it works, e.g. 24h (default and most: tokens.operator_lifetime)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/accounts/%s/tokens", args[0])
		if err != nil {
			return err
		}
		return cl.print(cmd, http.MethodPost, path, map[string]string{"label": label, "lifetime": lifetime})
	}
	return cmd
}

func newAccountRevokeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "revoke NAME TOKEN_ID", Short: "Revoke one token of an account at once: an admin any account's, an operator its own ('account list' shows the ids)",
		Args: cobra.ExactArgs(2)}
	cl := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/accounts/%s/tokens/%s", args[0], args[1])
		if err != nil {
			return err
		}
		if err := cl.do(cmd.Context(), http.MethodDelete, path, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s of account %s\n", args[1], args[0])
		return nil
	}
	return cmd
}

func newAccountDisableCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "disable NAME", Short: "Disable an account for good and revoke all its tokens at once (never the last admin)",
		Long: `disable revokes every token of an account at once (each is refused from its
next request) and disables the account for good: it is never enabled again
and its name is never reused, so the person gets a new account under
another name ('hcnode account add'). The node refuses to disable its last
enabled admin.

Without --yes it asks the node who the token is, looks the account up, says
what it would do (its role and live tokens) and changes nothing; a token
that is no admin's (admin_required), an account the node does not have, or
the last enabled admin, is refused before anyone types --yes. With --yes it
says the same in the present tense and does it.`,
		Args: cobra.ExactArgs(1)}
	cl := addAdminClientFlags(cmd)
	yes := addYesFlag(cmd, "the account is disabled for good and its tokens stop working")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/accounts/%s", args[0])
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		p, err := startPlan(cmd.Context(), w, *yes, cl.mayAdmin("account.disable"))
		if err != nil {
			return err
		}
		if *yes {
			p.head("Disabling account %s", args[0])
		} else {
			acc, done, err := accountToDisable(cmd, cl, args[0])
			if err != nil || done {
				return err
			}
			p.head("Disabling account %s (%s, %s)", acc.Name, acc.Role, count(liveTokens(acc), "live token"))
		}
		p.step("revoke every token of the account at once: each is refused from its next request",
			"revoking every token of the account at once: each is refused from its next request")
		p.step("disable the account: no token can be minted for it again", "disabling the account: no token can be minted for it again")
		p.note("This cannot be undone: an account is never enabled again and its name is never reused (give the person a new account: hcnode account add).")
		if p.stop() {
			return nil
		}
		if err := cl.do(cmd.Context(), http.MethodDelete, path, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(w, "disabled account %s; its tokens no longer work\n", args[0])
		return nil
	}
	return cmd
}

// accountToDisable looks up the account ref names (its id or its name, in
// any case) for disable's plan, with an admin's token (which sees every
// account). It refuses one the node does not have and the last enabled
// admin, which the node would refuse; done is true, said so, when the
// account is disabled already.
func accountToDisable(cmd *cobra.Command, cl *client, ref string) (acc node.Account, done bool, err error) {
	var list struct {
		Accounts []node.Account `json:"accounts"`
	}
	if err := cl.do(cmd.Context(), http.MethodGet, "/v1/accounts", nil, &list); err != nil {
		return acc, false, err
	}
	i := slices.IndexFunc(list.Accounts, func(a node.Account) bool { return a.ID == ref || strings.EqualFold(a.Name, ref) })
	if i < 0 {
		return acc, false, fmt.Errorf("this node has no account %s: 'hcnode account list' shows its accounts", ref)
	}
	acc = list.Accounts[i]
	if acc.Disabled {
		fmt.Fprintf(cmd.OutOrStdout(), "Account %s is already disabled: nothing to do.\n", acc.Name)
		return acc, true, nil
	}
	admins := 0
	for _, a := range list.Accounts {
		if a.Role == "admin" && !a.Disabled {
			admins++
		}
	}
	if acc.Role == "admin" && admins == 1 {
		return acc, false, fmt.Errorf("%s is the last enabled admin account, and the node refuses to disable it: add another admin first (hcnode account add NAME --role admin)", acc.Name)
	}
	return acc, false, nil
}

// liveTokens counts an account's tokens that still work.
func liveTokens(acc node.Account) int {
	n := 0
	for _, t := range acc.Tokens {
		if !t.Expired {
			n++
		}
	}
	return n
}

// print calls the node and prints its JSON answer.
func (c *client) print(cmd *cobra.Command, method, path string, in any) error {
	var out any
	if err := c.do(cmd.Context(), method, path, in, &out); err != nil {
		return err
	}
	return printJSON(cmd.OutOrStdout(), out)
}
