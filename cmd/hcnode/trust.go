package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	if bytes.Contains(raw, []byte(`"signatures"`)) {
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

// unsignedProposal reports whether raw is an unsigned proposal rather
// than a signed trust list, and if so says what it still needs.
func unsignedProposal(path string, raw []byte) error {
	tl, err := trust.DecodeTrustList(raw)
	if err != nil {
		return nil
	}
	return fmt.Errorf("%s is an unsigned proposal (version %d): needs %s (has 0); each operator signs it with 'hcnode trust sign'",
		path, tl.Version, count(tl.Threshold, "signature"))
}

// readListInForce reads the trust list nodes hold now, as given by
// --current: a signed list, signed by its own threshold of operators, as
// every list a node accepted is. A proposal, or a list still being
// signed, is refused: propose would number the next version after it and
// show only the changes since it, so operators would sign changes they
// were never shown; verify would judge a list against one no node holds.
// Its expiry is not checked: the next version of an expired list is what
// operators must then propose.
func readListInForce(path string) (*trust.ParsedTrustList, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := unsignedProposal(path, raw); err != nil {
		return nil, err
	}
	p, err := trust.ParseTrustList(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(p.SignedBy) < p.Threshold {
		by := strings.Join(p.SignedBy, ", ")
		if by == "" {
			by = "none of its operators"
		}
		return nil, fmt.Errorf("%s is not a trust list in force: version %d is signed by %d of the %s it needs (%s); give the list nodes hold",
			path, p.Version, len(p.SignedBy), count(p.Threshold, "operator"), by)
	}
	return p, nil
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

func newTrustVerifyCmd() *cobra.Command {
	var current, pin string
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Say whether a node holding --current (or pinning --pin) would accept FILE, and why not",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if err := unsignedProposal(args[0], raw); err != nil {
				return err
			}
			sum, err := parsePin("--pin", pin)
			if err != nil {
				return err
			}
			return checkTrustList(cmd.OutOrStdout(), raw, current, sum)
		},
	}
	cmd.Flags().StringVar(&current, "current", "", "the trust list nodes hold now")
	cmd.Flags().StringVar(&pin, "pin", "", "SHA-256 pinned at install (first version): 64 hex digits")
	return cmd
}

// parsePin checks a trust list hash given on the command line: 64 hex
// digits, a SHA-256 as sha256sum prints it (either case). A typo would
// otherwise only show as a list that does not match its pin (reason
// wrong_signer), as if the file were wrong.
func parsePin(flag, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	sum := strings.ToLower(s)
	if _, err := hex.DecodeString(sum); err != nil || len(sum) != 2*sha256.Size {
		return "", usageError{fmt.Errorf("%s %q is not a SHA-256: want 64 hex digits, as sha256sum prints them", flag, s)}
	}
	return sum, nil
}

// checkTrustList applies the nodes' acceptance rules to raw.
func checkTrustList(w io.Writer, raw []byte, current, pin string) error {
	next, err := trust.ParseTrustList(raw)
	if err != nil {
		return err
	}
	var held *trust.ParsedTrustList
	if current != "" {
		if held, err = readListInForce(current); err != nil {
			return fmt.Errorf("current trust list: %w", err)
		}
	} else if pin == "" {
		pin = next.SHA256()
		fmt.Fprintf(w, "no --current: checking as a first install pinned to its own hash %s\n", pin)
	}
	if err := trust.AcceptTrustList(held, next, pin, time.Now()); err != nil {
		return fmt.Errorf("nodes would refuse version %d: %w", next.Version, err)
	}
	fmt.Fprintf(w, "nodes would accept version %d (signed by %s; sha256 %s)\n", next.Version, strings.Join(next.SignedBy, ", "), next.SHA256())
	return nil
}
