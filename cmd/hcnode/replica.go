package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/trust"
)

func newReplicaCmd() *cobra.Command {
	rc := &cobra.Command{Use: "replica", Short: "Register, list or remove verifier replicas of this province",
		Long: `A verifier replica is 'hcnode serve' with role: verifier in its config: it
answers POST /v1/verify for this province's scanners, holds no personal data
and no signing key, and learns the scanners and content keys from this node
with the token 'replica add' prints (replica.token_file in its config),
once an admin confirmed the fingerprint of its keys ('replica confirm').`}

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
		p, err := startPlan(cmd.Context(), w, *yes, rmc.mayAdmin("replica.remove"))
		if err != nil {
			return err
		}
		if *yes {
			p.head("Removing replica %s", args[0])
		} else {
			r, err := heldReplica(cmd.Context(), rmc, args[0])
			if err != nil {
				return err
			}
			p.head("Removing replica %s (%s)", r.Name, r.ID)
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
	confirm := &cobra.Command{Use: "confirm ID|NAME FINGERPRINT",
		Short: "Trust a replica's keys, of the fingerprint the replica printed on its own machine (admin)", Args: cobra.ExactArgs(2),
		Long: `confirm binds a verifier replica to its keys: home seals the province's
content keys to a replica, and takes its verification records, only while
the keys it registered are of the fingerprint an admin confirmed. Read the
fingerprint on the replica's own machine ('hcnode check' there, or its log
at start: "replica key fingerprint"), never from 'hcnode replica list'
alone: anyone holding the replica's token can register keys. It may be
confirmed before the replica registers them; a replica that made new keys
(its data directory lost) is confirmed again with its new fingerprint.

Without --yes it says what it would do and what home holds now, and
changes nothing; a token that is no admin's, a replica the node does not
have or a malformed fingerprint is refused before anyone types --yes.`}
	cc := addAdminClientFlags(confirm)
	yesConfirm := addYesFlag(confirm, "home trusts the replica's keys of that fingerprint")
	confirm.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/replicas/%s/confirm", args[0])
		if err != nil {
			return err
		}
		fp, ok := trust.ParseReplicaFingerprint(args[1])
		if !ok {
			return fmt.Errorf("%q is not a replica key fingerprint: 32 letters and digits in groups of four, as the replica prints it", args[1])
		}
		w := cmd.OutOrStdout()
		p, err := startPlan(cmd.Context(), w, *yesConfirm, cc.mayAdmin("replica.confirm"))
		if err != nil {
			return err
		}
		if *yesConfirm {
			p.head("Confirming replica %s", args[0])
		} else {
			r, err := heldReplica(cmd.Context(), cc, args[0])
			if err != nil {
				return err
			}
			p.head("Confirming replica %s (%s)", r.Name, r.ID)
			// Home holds the keys registered unconfirmed (Registered) and
			// the replica's last (Fingerprint).
			var others []string
			for _, f := range append([]string{r.Fingerprint}, r.Registered...) {
				if f != "" && f != fp && !slices.Contains(others, f) {
					others = append(others, f)
				}
			}
			registered := r.Fingerprint == fp || slices.Contains(r.Registered, fp)
			switch {
			case registered:
				p.note("It registered keys of this fingerprint: home trusts them at once.")
			case len(others) == 0:
				p.note("It has registered no keys yet: home trusts them once it registers keys of this fingerprint.")
			default:
				p.note("It registered keys of other fingerprints only: home trusts none but this one, once registered" +
					" (the replica registers its own at every refresh until trusted).")
			}
			if len(others) > 0 {
				p.note("Keys of " + strings.Join(others, ", ") + " were registered with its token too: if the replica did not register them, " +
					"someone else holds its token: remove it and add it again.")
			}
			if r.Grandfathered && !registered {
				p.note("It serves now on the enc key home held before the upgrade, its records held until confirmed: confirming " +
					"another fingerprint than the one it registered ends that, and it stops serving until it registers keys of this one.")
			}
			if r.Confirmed != "" && r.Confirmed != fp {
				p.note("It was confirmed with " + r.Confirmed + " before: keys of that fingerprint are no longer trusted.")
			}
		}
		p.step("trust its keys of fingerprint "+fp+": seal the province's content keys to them and take the records they sign",
			"trusting its keys of fingerprint "+fp+": sealing the province's content keys to them and taking the records they sign")
		p.note("Compare " + fp + " with the fingerprint the replica prints on its own machine ('hcnode check' there).")
		if p.stop() {
			return nil
		}
		var out node.ReplicaInfo
		if err := cc.do(cmd.Context(), http.MethodPost, path,
			map[string]string{"fingerprint": fp}, &out); err != nil {
			return err
		}
		if out.Trusted {
			fmt.Fprintf(w, "confirmed replica %s: home trusts its keys (fingerprint %s)\n", out.Name, fp)
		} else {
			fmt.Fprintf(w, "confirmed replica %s: home trusts its keys once it registers those of fingerprint %s (at its next refresh)\n", out.Name, fp)
		}
		return nil
	}
	rc.AddCommand(add, list, confirm, rm)
	return rc
}

// heldReplica is the replica of id or name idOrName as the node lists it.
func heldReplica(ctx context.Context, cl *client, idOrName string) (node.ReplicaInfo, error) {
	var held struct {
		Replicas []node.ReplicaInfo `json:"replicas"`
	}
	if err := cl.do(ctx, http.MethodGet, "/v1/replicas", nil, &held); err != nil {
		return node.ReplicaInfo{}, err
	}
	i := slices.IndexFunc(held.Replicas, func(r node.ReplicaInfo) bool { return r.ID == idOrName || strings.EqualFold(r.Name, idOrName) })
	if i < 0 {
		return node.ReplicaInfo{}, fmt.Errorf("this node has no replica %s: 'hcnode replica list' shows its replicas", idOrName)
	}
	return held.Replicas[i], nil
}
