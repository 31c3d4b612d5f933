package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/trust"
)

func newTrustProposeCmd() *cobra.Command {
	var current, out, fed string
	var adds, suspends, reinstates, removes, roots, addOps, rmOps []string
	var threshold int
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "propose",
		Short: "Write the next trust list version (unsigned) from the current one plus changes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cur trust.TrustList
			if current != "" {
				held, err := readListInForce(current)
				if err != nil {
					return fmt.Errorf("--current: %w", err)
				}
				cur = held.TrustList
			}
			var changes []trust.Change
			if fed != "" {
				changes = append(changes, trust.Change{Op: "federation", Value: fed})
			}
			for _, a := range adds {
				parts := strings.SplitN(a, ":", 3)
				if len(parts) != 3 {
					return fmt.Errorf("--add-member %q: want ID:NAME:ROOT.jwk", a)
				}
				jwk, err := os.ReadFile(parts[2])
				if err != nil {
					return err
				}
				changes = append(changes, trust.Change{Op: "add-member", ID: parts[0], Name: parts[1], Key: bytes.TrimSpace(jwk)})
			}
			for op, ids := range map[string][]string{"suspend": suspends, "reinstate": reinstates, "remove": removes, "remove-operator": rmOps} {
				for _, id := range ids {
					changes = append(changes, trust.Change{Op: op, ID: id})
				}
			}
			for _, r := range roots {
				id, file, ok := strings.Cut(r, ":")
				if !ok {
					return fmt.Errorf("--set-root %q: want ID:ROOT.jwk", r)
				}
				jwk, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				changes = append(changes, trust.Change{Op: "set-root", ID: id, Key: bytes.TrimSpace(jwk)})
			}
			for _, a := range addOps {
				parts := strings.SplitN(a, ":", 3)
				if len(parts) != 3 {
					return fmt.Errorf("--add-operator %q: want ID:NAME:KEY.pub.jwk", a)
				}
				jwk, err := os.ReadFile(parts[2])
				if err != nil {
					return err
				}
				changes = append(changes, trust.Change{Op: "add-operator", ID: parts[0], Name: parts[1], Key: bytes.TrimSpace(jwk)})
			}
			if threshold > 0 {
				changes = append(changes, trust.Change{Op: "threshold", N: threshold})
			}
			if expires > 0 {
				changes = append(changes, trust.Change{Op: "expires", Duration: expires})
			}
			next, err := trust.Propose(cur, changes, time.Now())
			if err != nil {
				return fmt.Errorf("proposal refused: %w", err)
			}
			if err := checkProposalOut(out, current); err != nil {
				return err
			}
			b, err := json.MarshalIndent(next, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s: version %d, to be signed by %s\n", out, next.Version, count(next.Threshold, "operator"))
			for _, l := range trust.Diff(cur, next) {
				fmt.Fprintln(w, "  "+l)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&current, "current", "", "the trust list in force, signed by its k operators (omit to bootstrap a new federation)")
	f.StringVar(&out, "out", "", "proposal file to write (required)")
	f.StringVar(&fed, "federation", "", "federation id (when bootstrapping)")
	f.StringArrayVar(&adds, "add-member", nil, "add a province: ID:NAME:ROOT.jwk")
	f.StringArrayVar(&suspends, "suspend", nil, "suspend a province: its codes fail with issuer_suspended")
	f.StringArrayVar(&reinstates, "reinstate", nil, "reinstate a suspended province")
	f.StringArrayVar(&removes, "remove", nil, "remove a province: its statements are ignored")
	f.StringArrayVar(&roots, "set-root", nil, "change a province's root key: ID:ROOT.jwk")
	f.StringArrayVar(&addOps, "add-operator", nil, "add an operator: ID:NAME:KEY.pub.jwk")
	f.StringArrayVar(&rmOps, "remove-operator", nil, "remove an operator")
	f.IntVar(&threshold, "threshold", 0, "operators that must sign each version (k)")
	f.DurationVar(&expires, "expires", 0, "validity from now, e.g. 2160h (default: keep, or 90 days)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// checkProposalOut refuses to write an unsigned proposal over the trust
// list in force (--current), or over any file but an earlier unsigned
// proposal: a signed trust list is what nodes pin and operators sign
// from, and an unsigned proposal cannot replace it. There is no flag to
// force it: a proposal always goes to a file of its own.
func checkProposalOut(out, current string) error {
	outInfo, err := os.Stat(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if current != "" {
		if curInfo, err := os.Stat(current); err == nil && os.SameFile(outInfo, curInfo) {
			return fmt.Errorf("refusing to write the proposal over %s, the trust list in force: write it to another file (--out)", out)
		}
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	if _, err := trust.DecodeTrustList(raw); err == nil {
		return nil // an earlier proposal may be rewritten
	}
	if _, err := trust.ParseTrustList(raw); err == nil {
		return fmt.Errorf("refusing to write the proposal over %s, a signed trust list: write it to another file (--out)", out)
	}
	return fmt.Errorf("refusing to write the proposal over %s, which is not a trust list proposal: write it to another file (--out)", out)
}
