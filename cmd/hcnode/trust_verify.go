package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/trust"
)

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
