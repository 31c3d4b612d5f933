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

// proposeChanges is what propose's flags ask to change in the trust list.
type proposeChanges struct {
	fed                                  string
	adds, addOps                         []string // ID:NAME:KEY.jwk
	roots                                []string // ID:ROOT.jwk
	suspends, reinstates, removes, rmOps []string // ids
	threshold                            int
	expires                              time.Duration
}

func newTrustProposeCmd() *cobra.Command {
	var current, out string
	var pc proposeChanges
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
			changes, err := pc.changes()
			if err != nil {
				return err
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
	f.StringVar(&pc.fed, "federation", "", "federation id (when bootstrapping)")
	f.StringArrayVar(&pc.adds, "add-member", nil, "add a province: ID:NAME:ROOT.jwk")
	f.StringArrayVar(&pc.suspends, "suspend", nil, "suspend a province: its codes fail with issuer_suspended")
	f.StringArrayVar(&pc.reinstates, "reinstate", nil, "reinstate a suspended province")
	f.StringArrayVar(&pc.removes, "remove", nil, "remove a province: its statements are ignored")
	f.StringArrayVar(&pc.roots, "set-root", nil, "change a province's root key: ID:ROOT.jwk")
	f.StringArrayVar(&pc.addOps, "add-operator", nil, "add an operator: ID:NAME:KEY.pub.jwk")
	f.StringArrayVar(&pc.rmOps, "remove-operator", nil, "remove an operator")
	f.IntVar(&pc.threshold, "threshold", 0, "operators that must sign each version (k)")
	f.DurationVar(&pc.expires, "expires", 0, "validity from now, e.g. 2160h (default: keep, or 90 days)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// changes turns the flags into the trust list changes they ask for,
// reading the key files they name.
func (pc proposeChanges) changes() ([]trust.Change, error) {
	var changes []trust.Change
	if pc.fed != "" {
		changes = append(changes, trust.Change{Op: "federation", Value: pc.fed})
	}
	for _, a := range pc.adds {
		id, name, jwk, err := namedKey("--add-member", a, "ID:NAME:ROOT.jwk")
		if err != nil {
			return nil, err
		}
		changes = append(changes, trust.Change{Op: "add-member", ID: id, Name: name, Key: jwk})
	}
	// In this order, every time: trust.Propose applies changes in the
	// order given, and the same flags must give the same proposal. A
	// province named by two of suspend, reinstate and remove is refused:
	// which one was meant cannot be told.
	named := map[string]string{}
	for _, f := range []struct {
		op  string
		ids []string
	}{{"suspend", pc.suspends}, {"reinstate", pc.reinstates}, {"remove", pc.removes}, {"remove-operator", pc.rmOps}} {
		for _, id := range f.ids {
			if f.op != "remove-operator" {
				if prev, ok := named[id]; ok && prev != f.op {
					return nil, fmt.Errorf("--%s %s and --%s %s: name each province in one of --suspend, --reinstate and --remove", prev, id, f.op, id)
				}
				named[id] = f.op
			}
			changes = append(changes, trust.Change{Op: f.op, ID: id})
		}
	}
	for _, r := range pc.roots {
		id, file, ok := strings.Cut(r, ":")
		if !ok {
			return nil, fmt.Errorf("--set-root %q: want ID:ROOT.jwk", r)
		}
		jwk, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		changes = append(changes, trust.Change{Op: "set-root", ID: id, Key: bytes.TrimSpace(jwk)})
	}
	for _, a := range pc.addOps {
		id, name, jwk, err := namedKey("--add-operator", a, "ID:NAME:KEY.pub.jwk")
		if err != nil {
			return nil, err
		}
		changes = append(changes, trust.Change{Op: "add-operator", ID: id, Name: name, Key: jwk})
	}
	if pc.threshold > 0 {
		changes = append(changes, trust.Change{Op: "threshold", N: pc.threshold})
	}
	if pc.expires > 0 {
		changes = append(changes, trust.Change{Op: "expires", Duration: pc.expires})
	}
	return changes, nil
}

// namedKey splits a flag value of the form ID:NAME:FILE (want, as the
// flag's help gives it) and reads the JWK in FILE.
func namedKey(flag, value, want string) (id, name string, jwk []byte, err error) {
	parts := strings.SplitN(value, ":", 3)
	if len(parts) != 3 {
		return "", "", nil, fmt.Errorf("%s %q: want %s", flag, value, want)
	}
	jwk, err = os.ReadFile(parts[2])
	if err != nil {
		return "", "", nil, err
	}
	return parts[0], parts[1], bytes.TrimSpace(jwk), nil
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
