package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

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

	rm := &cobra.Command{Use: "remove ID|NAME", Short: "Remove a replica for good; its token stops working at its next request (admin)",
		Args: cobra.ExactArgs(1),
		Long: `remove removes a verifier replica: home refuses its token from its next
request, so it learns no scanner or content key again, and once past
replica.max_stale it refuses every scanner (replica_stale). It cannot be
undone: the replica serves again only once registered anew ('hcnode
replica add') with the new token in its config.

Without --yes it asks the node who the token is, looks the replica up, says
what it would do and changes nothing; a token that is no admin's
(admin_required), or a replica the node does not have, is refused before
anyone types --yes. With --yes it says the same in the present tense and does it.`}
	rmc := addAdminClientFlags(rm)
	yes := addYesFlag(rm, "the replica's token stops working for good")
	rm.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/replicas/%s", args[0])
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		p := plan{w: w, yes: *yes}
		if *yes {
			p.head("Removing replica %s", args[0])
		} else {
			if err := rmc.mayAdmin(cmd.Context(), "replica.remove"); err != nil {
				return err
			}
			var held struct {
				Replicas []node.ReplicaInfo `json:"replicas"`
			}
			if err := rmc.do(cmd.Context(), http.MethodGet, "/v1/replicas", nil, &held); err != nil {
				return err
			}
			i := slices.IndexFunc(held.Replicas, func(r node.ReplicaInfo) bool { return r.ID == args[0] || strings.EqualFold(r.Name, args[0]) })
			if i < 0 {
				return fmt.Errorf("this node has no replica %s: 'hcnode replica list' shows its replicas", args[0])
			}
			p.head("Removing replica %s (%s)", held.Replicas[i].Name, held.Replicas[i].ID)
		}
		p.step("refuse its token from its next request: it learns no scanner or content key again",
			"refusing its token from its next request: it learns no scanner or content key again")
		p.step("leave it refusing every scanner once replica.max_stale has passed (replica_stale): point its scanners at another",
			"leaving it refusing every scanner once replica.max_stale has passed (replica_stale): point its scanners at another")
		p.note("This cannot be undone: the replica serves again only once registered anew (hcnode replica add), with the new token in its config.")
		if p.stop() {
			return nil
		}
		if err := rmc.do(cmd.Context(), http.MethodDelete, path, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(w, "removed replica %s\n", args[0])
		return nil
	}
	rc.AddCommand(add, list, rm)
	return rc
}
