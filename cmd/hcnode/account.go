package main

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
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
account takes effect on the node's next request. NAME may also be an
account id (ac_...). Names are never reused.`,
	}
	ac.AddCommand(newAccountAddCmd(), newAccountListCmd(), newAccountTokenCmd(), newAccountRevokeCmd(), newAccountDisableCmd())
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
		return cl.print(cmd, http.MethodPost, "/v1/accounts/"+url.PathEscape(args[0])+"/tokens",
			map[string]string{"label": label, "lifetime": lifetime})
	}
	return cmd
}

func newAccountRevokeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "revoke NAME TOKEN_ID", Short: "Revoke one token of an account at once ('account list' shows the ids)",
		Args: cobra.ExactArgs(2)}
	cl := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path := "/v1/accounts/" + url.PathEscape(args[0]) + "/tokens/" + url.PathEscape(args[1])
		if err := cl.do(cmd.Context(), http.MethodDelete, path, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s of account %s\n", args[1], args[0])
		return nil
	}
	return cmd
}

func newAccountDisableCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "disable NAME", Short: "Disable an account and revoke all its tokens at once (never the last admin)",
		Args: cobra.ExactArgs(1)}
	cl := addAdminClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := cl.do(cmd.Context(), http.MethodDelete, "/v1/accounts/"+url.PathEscape(args[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "disabled account %s; its tokens no longer work\n", args[0])
		return nil
	}
	return cmd
}

// print calls the node and prints its JSON answer.
func (c *client) print(cmd *cobra.Command, method, path string, in any) error {
	var out any
	if err := c.do(cmd.Context(), method, path, in, &out); err != nil {
		return err
	}
	return printJSON(cmd.OutOrStdout(), out)
}
