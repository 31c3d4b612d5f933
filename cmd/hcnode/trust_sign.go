package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

func newTrustSignCmd() *cobra.Command {
	var keyPath, in, out string
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Add your signature to a proposal or a partly signed trust list",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := daemon.ReadKeyFile(keyPath)
			if err != nil {
				return err
			}
			f, err := readTrustFile(in)
			if err != nil {
				return err
			}
			kid, err := trust.Thumbprint(&key.PublicKey)
			if err != nil {
				return err
			}
			var doc []byte
			if f.signed != nil {
				doc = f.raw
				if f.signed.SignedWith(&key.PublicKey) {
					// A second signature with the same key counts for
					// nothing and only makes the document longer.
					fmt.Fprintf(cmd.OutOrStdout(), "version %d is already signed with key %s: nothing written; signed by %d of %s: %s\n",
						f.signed.Version, kid, len(f.signed.SignedBy), count(f.signed.Threshold, "needed operator"), strings.Join(f.signed.SignedBy, ", "))
					return nil
				}
			}
			signed, err := trust.SignTrustList(doc, f.raw, key)
			if err != nil {
				return err
			}
			p, err := trust.ParseTrustList(signed)
			if err != nil {
				return err
			}
			if err := keepsSignatures(in, out, p); err != nil {
				return err
			}
			if err := os.WriteFile(out, signed, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed version %d with key %s; now signed by %d of %s: %s\n",
				p.Version, kid, len(p.SignedBy), count(p.Threshold, "needed operator"), strings.Join(p.SignedBy, ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "your operator private key file (required)")
	cmd.Flags().StringVar(&in, "in", "", "proposal or partly signed trust list (required)")
	cmd.Flags().StringVar(&out, "out", "", "signed trust list to write (required; may equal --in)")
	for _, n := range []string{"key", "in", "out"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

// keepsSignatures refuses to overwrite out, another file than in, when
// it holds the same trust list version as next with signatures next
// lacks: an operator who signed the proposal again, not the partly signed
// list, would otherwise silently drop the others' signatures. Another
// version in out (the list in force, as the README's flow keeps it) is
// replaced.
func keepsSignatures(in, out string, next *trust.ParsedTrustList) error {
	if filepath.Clean(in) == filepath.Clean(out) {
		return nil
	}
	if _, err := os.Stat(out); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	old, err := readTrustFile(out)
	if err != nil || old.signed == nil || old.signed.Version != next.Version {
		return nil // not a signed copy of this version: nothing of it to keep
	}
	var lost []string
	for _, name := range old.signed.SignedBy {
		if !slices.Contains(next.SignedBy, name) {
			lost = append(lost, name)
		}
	}
	if len(lost) > 0 {
		return usageError{fmt.Errorf("%s already holds version %d signed by %s, which %s lacks: writing it would drop %s; "+
			"sign --in %s instead, or remove it first", out, next.Version, strings.Join(old.signed.SignedBy, ", "), in,
			noun(len(lost), "that signature", "those signatures"), out)}
	}
	return nil
}
