package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/trust"
)

func newKeysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "List, rotate or mark compromised the node's signing keys, or start new content keys (all but list: an admin's token)"}

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
Peers receive the new keyset before any code it signs. It cannot be undone:
the retired key never signs again.

Without --yes it asks the node who the token is, looks the keys up, says
which key it would retire and which would take over, and changes nothing
(exit status 0); a token that is no admin's is refused (admin_required)
before anyone types --yes. With --yes it says the same in the present tense
(on stderr) and prints the node's keys.`}
	rc := addAdminClientFlags(rotate)
	rotYes := addYesFlag(rotate, "the active key retires now and never signs again")
	rotate.RunE = func(cmd *cobra.Command, _ []string) error {
		// With --yes, stdout is the node's JSON answer: the plan goes to
		// stderr, and names no key (--yes does not look them up).
		w := cmd.OutOrStdout()
		if *rotYes {
			w = cmd.ErrOrStderr()
		}
		p, err := startPlan(cmd.Context(), w, *rotYes, rc.mayAdmin("key.rotate"))
		if err != nil {
			return err
		}
		active, next := "the active key", "the next key"
		if !*rotYes {
			var held struct {
				Keys []node.KeyInfo `json:"keys"`
			}
			if err := rc.do(cmd.Context(), http.MethodGet, "/v1/keys", nil, &held); err != nil {
				return err
			}
			active, next = "no active key", "a new key"
			for _, k := range held.Keys {
				switch k.State {
				case string(trust.KeyActive):
					active = "the active key " + k.KID
				case string(trust.KeyNext):
					next = "the next key " + k.KID
				}
			}
		}
		p.head("Rotating the signing keys")
		p.step("retire "+active+" (codes it signed keep verifying until they expire)",
			"retiring "+active+" (codes it signed keep verifying until they expire)")
		p.step("activate "+next+" for new codes (peers receive the new keyset before any code it signs)",
			"activating "+next+" for new codes (peers receive the new keyset before any code it signs)")
		p.note("This cannot be undone: the retired key never signs again.")
		if p.stop() {
			return nil
		}
		var out any
		if err := rc.do(cmd.Context(), http.MethodPost, "/v1/keys/rotate", nil, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}

	comp := &cobra.Command{Use: "compromise [--] KID", Short: "Mark a signing key compromised: every code it signed fails at once (admin)", Args: cobra.ExactArgs(1),
		Long: `compromise marks a signing key compromised: every code it signed fails
verification (key_compromised) in every province once they have the new
keyset, and if it was the active key the next one takes over. It cannot be
undone: residents must get new codes.

Without --yes it asks the node who the token is, looks the key up, says what
it would do to it (naming its state) and changes nothing; a token that is no
admin's (admin_required), or a key the node does not have, is refused before
anyone types --yes. With --yes it says the same in the present tense (on
stderr) and prints the node's keys. A key id may begin with '-' (it is
base64url): put it after '--', as in 'hcnode keys compromise -- -AbC…'.`}
	cc := addAdminClientFlags(comp)
	yes := addYesFlag(comp, "codes signed by this key stop verifying everywhere")
	comp.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/keys/%s/compromise", args[0])
		if err != nil {
			return err
		}
		// With --yes, stdout is the node's JSON answer: the plan goes to
		// stderr.
		w := cmd.OutOrStdout()
		if *yes {
			w = cmd.ErrOrStderr()
		}
		p, err := startPlan(cmd.Context(), w, *yes, cc.mayAdmin("key.compromise"))
		if err != nil {
			return err
		}
		// Whether the next key takes over: the dry run knows the key's
		// state; --yes does not look it up.
		takeover, cond := true, "if it is the active key, "
		if *yes {
			p.head("Marking key %s compromised", args[0])
		} else {
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
			state := held.Keys[i].State
			if state == string(trust.KeyCompromised) {
				fmt.Fprintf(cmd.OutOrStdout(), "Key %s is already compromised: nothing to do.\n", args[0])
				return nil
			}
			p.head("Marking key %s (%s) compromised", args[0], state)
			takeover, cond = state == string(trust.KeyActive), ""
		}
		p.step("make every code it signed fail verification (key_compromised) in every province as soon as they receive the new keyset",
			"making every code it signed fail verification (key_compromised) in every province as soon as they receive the new keyset")
		if takeover {
			p.step(cond+"activate the next key for new codes", cond+"activating the next key for new codes")
		}
		p.step("start new content keys, so that whoever took the key cannot read the codes issued from now on",
			"starting new content keys, so that whoever took the key cannot read the codes issued from now on")
		p.note("This cannot be undone: the key never verifies again, and its residents must get new codes.")
		if p.stop() {
			return nil
		}
		var out any
		if err := cc.do(cmd.Context(), http.MethodPost, path, nil, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	rekey := &cobra.Command{Use: "rekey-content", Short: "Start new content keys now, leaving the signing keys as they are (admin)", Args: cobra.NoArgs,
		Long: `rekey-content starts new content keys for this epoch and the next, for
when a content key alone is suspected leaked (a copy of a grant, a
replica's store): codes issued from now on are encrypted under the new
key, which the provinces in good standing and the province's verifier
replicas receive, so whoever holds the old one cannot read them. Codes
issued before keep verifying, and stay readable by whoever holds their
key. The signing keys do not change; if the key store was read, run
'hcnode keys compromise' instead, which starts new content keys too.

Without --yes it asks the node who the token is, says what it would do and
changes nothing; a token that is no admin's is refused (admin_required)
before anyone types --yes. With --yes it says the same in the present tense
(on stderr) and prints the id of the content key new codes use.`}
	rkc := addAdminClientFlags(rekey)
	rekeyYes := addYesFlag(rekey, "codes issued from now on use a new content key")
	rekey.RunE = func(cmd *cobra.Command, _ []string) error {
		w := cmd.OutOrStdout()
		if *rekeyYes {
			w = cmd.ErrOrStderr()
		}
		p, err := startPlan(cmd.Context(), w, *rekeyYes, rkc.mayAdmin("key.content_rekey"))
		if err != nil {
			return err
		}
		p.head("Starting new content keys")
		p.step("start a new content key for this epoch and the next, granted to the provinces in good standing and to the province's verifier replicas",
			"starting a new content key for this epoch and the next, granted to the provinces in good standing and to the province's verifier replicas")
		p.step("encrypt codes issued from now on under it, so that whoever holds the replaced key cannot read them",
			"encrypting codes issued from now on under it, so that whoever holds the replaced key cannot read them")
		p.step("keep the replaced key until it expires: codes issued under it keep verifying",
			"keeping the replaced key until it expires: codes issued under it keep verifying")
		p.note("The signing keys do not change. This cannot be undone.")
		if p.stop() {
			return nil
		}
		var out struct {
			ContentKey string `json:"content_key"`
		}
		if err := rkc.do(cmd.Context(), http.MethodPost, "/v1/keys/content/rekey", nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "new codes use content key %s\n", out.ContentKey)
		return nil
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
	keys.AddCommand(list, rotate, comp, rekey, rootRot)
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

	rm := &cobra.Command{Use: "remove ID", Short: "Remove a scanner for good; its token stops working at once", Args: cobra.ExactArgs(1),
		Long: `remove removes a scanner device: its token is refused at once by this node,
and by its verifier replicas within their replica.refresh. It cannot be undone:
the device works again only once registered anew ('hcnode scanner add'),
with a new token and link opened on it.

It asks the node who the token is first, with --yes too: a token that is
no operator's is refused before anything is printed. Without --yes it
looks the scanner up, says what it would do and changes nothing; a scanner
the node does not have is refused before anyone types --yes. With --yes it
says the same in the present tense and does it.`}
	rmc := addClientFlags(rm)
	rmYes := addYesFlag(rm, "the scanner's token stops working for good")
	rm.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/scanners/%s", args[0])
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		p, err := startPlan(cmd.Context(), w, *rmYes, rmc.mayOperate())
		if err != nil {
			return err
		}
		if *rmYes {
			p.head("Removing scanner %s", args[0])
		} else {
			var held struct {
				Scanners []struct{ ID, Name, Place string } `json:"scanners"`
			}
			if err := rmc.do(cmd.Context(), http.MethodGet, "/v1/scanners", nil, &held); err != nil {
				return err
			}
			i := slices.IndexFunc(held.Scanners, func(s struct{ ID, Name, Place string }) bool { return s.ID == args[0] })
			if i < 0 {
				return fmt.Errorf("this node has no scanner %s (or it was removed): 'hcnode scanner list' shows its scanners", args[0])
			}
			p.head("Removing scanner %s (%s, %s)", args[0], held.Scanners[i].Name, held.Scanners[i].Place)
		}
		p.step("refuse its token at once, here and at this province's verifier replicas within their replica.refresh",
			"refusing its token at once, here and at this province's verifier replicas within their replica.refresh")
		p.note("This cannot be undone: the device works again only once registered anew (hcnode scanner add), with a new link opened on it.")
		if p.stop() {
			return nil
		}
		if err := rmc.do(cmd.Context(), http.MethodDelete, path, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(w, "removed scanner %s\n", args[0])
		return nil
	}
	sc.AddCommand(add, list, rm)
	return sc
}
