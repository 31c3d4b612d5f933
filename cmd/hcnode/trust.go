package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

func newTrustCmd() *cobra.Command {
	t := &cobra.Command{
		Use:   "trust",
		Short: "Federation operators: make, sign, check and publish the trust list",
		Long: `The federation trust list names the member provinces, their root keys and
status, and the operators, k of whom must sign each new version. Every
command works on files, so each operator signs on their own machine:

  hcnode trust keygen --out alice                 # alice.key (keep secret), alice.pub.jwk
  hcnode trust propose --current tl.json --suspend 440000 --out p.json
  hcnode trust show p.json; hcnode trust diff tl.json p.json
  hcnode trust sign --key alice.key --in p.json --out tl-v2.json
  hcnode trust sign --key bob.key --in tl-v2.json --out tl-v2.json
  hcnode trust verify tl-v2.json --current tl.json
  hcnode trust publish tl-v2.json --nats nats://...`,
	}
	t.AddCommand(newTrustKeygenCmd(), newTrustProposeCmd(), newTrustShowCmd(), newTrustDiffCmd(),
		newTrustSignCmd(), newTrustVerifyCmd(), newTrustPublishCmd())
	return t
}

func newTrustKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make an operator key pair: OUT.key (private, mode 0600) and OUT.pub.jwk",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := trust.GenerateKey(nil)
			if err != nil {
				return err
			}
			if err := daemon.WriteKeyFile(out+".key", key); err != nil {
				return err
			}
			jwk, err := trust.PublicJWK(&key.PublicKey, "sig")
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(jwk, "", "  ")
			if err := os.WriteFile(out+".pub.jwk", append(b, '\n'), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s.key (private: keep it offline) and %s.pub.jwk (key id %s)\n", out, out, jwk.KeyID)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file name prefix (required)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// trustFile is a trust list file: an unsigned proposal or a signed document.
// A signed document is the one with a top-level "signatures" member; a
// proposal may hold that word anywhere else, in a name or a URL.
type trustFile struct {
	list   trust.TrustList
	signed *trust.ParsedTrustList // nil for a proposal
	raw    []byte
}

func readTrustFile(path string) (trustFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return trustFile{}, err
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) == nil && top["signatures"] != nil {
		p, err := trust.ParseTrustList(raw)
		if err != nil {
			return trustFile{}, fmt.Errorf("%s: %w", path, err)
		}
		return trustFile{list: p.TrustList, signed: p, raw: raw}, nil
	}
	tl, err := trust.DecodeTrustList(raw)
	if err != nil {
		return trustFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return trustFile{list: tl, raw: raw}, nil
}

func newTrustShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "Describe a trust list or proposal: members, operators, who has signed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := readTrustFile(args[0])
			if err != nil {
				return err
			}
			describeTrustList(cmd.OutOrStdout(), f)
			return nil
		},
	}
}

func describeTrustList(w io.Writer, f trustFile) {
	tl := f.list
	fmt.Fprintf(w, "federation %s, version %d, issued %s, expires %s\n", tl.Federation, tl.Version,
		time.Unix(tl.IssuedAt, 0).UTC().Format(time.RFC3339), time.Unix(tl.Expires, 0).UTC().Format(time.RFC3339))
	signed := map[string]bool{}
	if f.signed != nil {
		for _, id := range f.signed.SignedBy {
			signed[id] = true
		}
		fmt.Fprintf(w, "signed by %d of %s (%d needed), sha256 %s\n", len(f.signed.SignedBy), count(len(tl.Operators), "operator"), tl.Threshold, f.signed.SHA256())
	} else {
		fmt.Fprintf(w, "unsigned proposal; %d of %s must sign\n", tl.Threshold, count(len(tl.Operators), "operator"))
	}
	fmt.Fprintln(w, "operators:")
	for _, o := range tl.Operators {
		mark := " "
		if signed[o.ID] {
			mark = "✓"
		}
		fmt.Fprintf(w, "  %s %-12s %-20s key %s\n", mark, o.ID, o.Name, jwkID(o.JWK))
	}
	fmt.Fprintln(w, "members:")
	for _, m := range tl.Members {
		fmt.Fprintf(w, "    %s %-12s %-9s root %s\n", m.ID, m.Name, m.Status, jwkID(m.Root))
	}
}

func jwkID(raw json.RawMessage) string {
	_, kid, err := trust.ParsePublicJWK(raw)
	if err != nil {
		return "INVALID"
	}
	return kid
}

func newTrustDiffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "What NEW changes relative to OLD",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := readTrustFile(args[0])
			if err != nil {
				return err
			}
			b, err := readTrustFile(args[1])
			if err != nil {
				return err
			}
			lines := trust.Diff(a.list, b.list)
			if len(lines) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no differences")
			}
			for _, l := range lines {
				fmt.Fprintln(cmd.OutOrStdout(), l)
			}
			return nil
		},
	}
}
