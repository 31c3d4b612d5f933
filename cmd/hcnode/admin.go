package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/trust"
)

func newKeysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "List, rotate or mark compromised the node's signing keys (all but list: an admin's token)"}

	list := &cobra.Command{Use: "list", Short: "List signing keys and their states", Args: cobra.NoArgs}
	lc := addClientFlags(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		var out any
		if err := lc.do(cmd.Context(), http.MethodGet, "/v1/keys", nil, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}

	rotate := &cobra.Command{Use: "rotate", Short: "Retire the active key now and activate the next one (admin)", Args: cobra.NoArgs,
		Long: `rotate retires the active signing key and activates the next. Codes the
old key signed keep verifying until they expire; new codes use the new key.
Peers receive the new keyset before any code it signs.`}
	rc := addAdminClientFlags(rotate)
	rotate.RunE = func(cmd *cobra.Command, _ []string) error {
		var out any
		if err := rc.do(cmd.Context(), http.MethodPost, "/v1/keys/rotate", nil, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}

	var yes bool
	comp := &cobra.Command{Use: "compromise [--] KID", Short: "Mark a signing key compromised: every code it signed fails at once (admin)", Args: cobra.ExactArgs(1),
		Long: `compromise marks a signing key compromised: every code it signed fails
verification in every province once they have the new keyset, and if it
was the active key the next one takes over. Without --yes it says what it
would do to that key and stops. A key id may begin with '-' (it is
base64url): put it after '--', as in 'hcnode keys compromise -- -AbC…'.`}
	cc := addAdminClientFlags(comp)
	comp.Flags().BoolVar(&yes, "yes", false, "confirm: codes signed by this key stop verifying everywhere")
	comp.RunE = func(cmd *cobra.Command, args []string) error {
		if !yes {
			// Explain what it would do to this key, and refuse a key the
			// node does not have before anyone types --yes.
			var held struct {
				Keys []node.KeyInfo `json:"keys"`
			}
			if err := cc.do(cmd.Context(), http.MethodGet, "/v1/keys", nil, &held); err != nil {
				return err
			}
			i := slices.IndexFunc(held.Keys, func(k node.KeyInfo) bool { return k.KID == args[0] })
			if i < 0 {
				return fmt.Errorf("this node has no signing key %s: 'hcnode keys list' shows its keys", args[0])
			}
			if held.Keys[i].State == string(trust.KeyCompromised) {
				fmt.Fprintf(cmd.OutOrStdout(), "Key %s is already compromised: nothing to do.\n", args[0])
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "This marks key %s (%s) compromised. Every code it signed will fail verification in every\n"+
				"province as soon as they receive the new keyset; residents must get new codes.\nRun again with --yes to do it.\n",
				args[0], held.Keys[i].State)
			return nil
		}
		var out any
		if err := cc.do(cmd.Context(), http.MethodPost, "/v1/keys/"+url.PathEscape(args[0])+"/compromise", nil, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	var rootOut string
	rootRot := &cobra.Command{Use: "rotate-root", Short: "Make the province's next root key for the operators to list (admin)", Args: cobra.NoArgs,
		Long: `rotate-root makes (or shows) the province's next root key and writes its
public JWK to --out. Nothing changes until the federation operators publish
a trust list naming it ('hcnode trust propose --set-root ID:FILE'); then the
node signs its keyset with the new root and retires the old one. Codes keep
verifying throughout.`}
	rrc := addAdminClientFlags(rootRot)
	rootRot.Flags().StringVar(&rootOut, "out", "root.next.pub.jwk", "where to write the new root public key")
	rootRot.RunE = func(cmd *cobra.Command, _ []string) error {
		var out struct {
			KID string          `json:"kid"`
			JWK json.RawMessage `json:"jwk"`
		}
		if err := rrc.do(cmd.Context(), http.MethodPost, "/v1/keys/root/rotate", nil, &out); err != nil {
			return err
		}
		if err := os.WriteFile(rootOut, append(out.JWK, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "next root key %s written to %s: give it to the federation operators\n", out.KID, rootOut)
		return nil
	}
	keys.AddCommand(list, rotate, comp, rootRot)
	return keys
}

func newScannerCmd() *cobra.Command {
	sc := &cobra.Command{Use: "scanner", Short: "Register, list or remove scanner devices"}

	var name, place string
	add := &cobra.Command{Use: "add", Short: "Register a scanner; prints its token once", Args: cobra.NoArgs}
	ac := addClientFlags(add)
	add.Flags().StringVar(&name, "name", "", "device name (required)")
	add.Flags().StringVar(&place, "place", "checkpoint", "kind of place: checkpoint, station, workplace...")
	_ = add.MarkFlagRequired("name")
	add.RunE = func(cmd *cobra.Command, _ []string) error {
		var out any
		if err := ac.do(cmd.Context(), http.MethodPost, "/v1/scanners", map[string]string{"name": name, "place": place}, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}

	list := &cobra.Command{Use: "list", Short: "List registered scanners", Args: cobra.NoArgs}
	lc := addClientFlags(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		var out any
		if err := lc.do(cmd.Context(), http.MethodGet, "/v1/scanners", nil, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}

	rm := &cobra.Command{Use: "remove ID", Short: "Remove a scanner; its token stops working at once", Args: cobra.ExactArgs(1)}
	rmc := addClientFlags(rm)
	rm.RunE = func(cmd *cobra.Command, args []string) error {
		if err := rmc.do(cmd.Context(), http.MethodDelete, "/v1/scanners/"+url.PathEscape(args[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "removed scanner %s\n", args[0])
		return nil
	}
	sc.AddCommand(add, list, rm)
	return sc
}
