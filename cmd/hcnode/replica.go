package main

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
)

func newReplicaCmd() *cobra.Command {
	rc := &cobra.Command{Use: "replica", Short: "Register, list or remove verifier replicas of this province",
		Long: `A verifier replica is 'hcnode serve' with role: verifier in its config: it
answers POST /v1/verify for this province's scanners, holds no personal data
and no signing key, and learns the scanners and content keys from this node
with the token 'replica add' prints (replica.token_file in its config).`}

	add := &cobra.Command{Use: "add NAME", Short: "Register a replica; prints its token once (admin)", Args: cobra.ExactArgs(1)}
	ac := addAdminClientFlags(add)
	add.RunE = func(cmd *cobra.Command, args []string) error {
		var out node.NewReplica
		if err := ac.do(cmd.Context(), http.MethodPost, "/v1/replicas", map[string]string{"name": args[0]}, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}

	list := &cobra.Command{Use: "list", Short: "List registered replicas", Args: cobra.NoArgs}
	lc := addClientFlags(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		var out any
		if err := lc.do(cmd.Context(), http.MethodGet, "/v1/replicas", nil, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}

	rm := &cobra.Command{Use: "remove ID|NAME", Short: "Remove a replica; its token stops working at its next request (admin)",
		Args: cobra.ExactArgs(1)}
	rmc := addAdminClientFlags(rm)
	rm.RunE = func(cmd *cobra.Command, args []string) error {
		if err := rmc.do(cmd.Context(), http.MethodDelete, "/v1/replicas/"+url.PathEscape(args[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "removed replica %s\n", args[0])
		return nil
	}
	rc.AddCommand(add, list, rm)
	return rc
}
