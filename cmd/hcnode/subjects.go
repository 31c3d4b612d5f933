package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
)

func newStatusCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "status SUBJECT green|yellow|red",
		Short: "Set a resident's health status; their live codes are revoked at once",
		Long: `status sets a resident's health status, with the reason the audit log
records. Every live code of the resident, phone and paper, is revoked in
every province, even when the status does not change (setting green again
withdraws their codes too); the resident gets codes of the new colour, and
a paper code must be printed again.`,
		Args: cobra.ExactArgs(2),
	}
	cl := addStatusClientFlags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", `why, for the audit log (required; "-": one line from stdin, kept out of ps and shell history)`)
	_ = cmd.MarkFlagRequired("reason")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/subjects/%s/status", args[0])
		if err != nil {
			return err
		}
		if err := dashFromStdin(cmd, &reason, "the reason", "--reason -: stdin held no reason; give one line saying why"); err != nil {
			return err
		}
		var out any
		in := map[string]string{"status": args[1], "reason": reason}
		if err := cl.do(cmd.Context(), http.MethodPut, path, in, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	return cmd
}

// stdinLine reads one line of at most 256 bytes from the command's stdin,
// trimmed: a value given as "-" so that it stays out of ps and the shell's
// history.
func stdinLine(cmd *cobra.Command, what string) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 256)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading %s from stdin: %w", what, err)
	}
	return strings.TrimSpace(line), nil
}

// dashFromStdin replaces a flag's value "-" by one line of stdin (see
// stdinLine), refusing an empty line with the sentence missing.
func dashFromStdin(cmd *cobra.Command, v *string, what, missing string) error {
	if *v != "-" {
		return nil
	}
	line, err := stdinLine(cmd, what)
	if err != nil {
		return err
	}
	if line == "" {
		return errors.New(missing)
	}
	*v = line
	return nil
}

func newSubjectCmd() *cobra.Command {
	sub := &cobra.Command{Use: "subject", Short: "Show or delete a resident's record, or replace their token"}

	show := &cobra.Command{Use: "show ID", Short: "Show a resident's record: consent, status, retention; personal fields masked",
		Args: cobra.ExactArgs(1)}
	sc := addClientFlags(show)
	show.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/subjects/%s", args[0])
		if err != nil {
			return err
		}
		var out any
		if err := sc.do(cmd.Context(), http.MethodGet, path, nil, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}

	del := &cobra.Command{Use: "delete ID", Short: "Delete a resident's record for good: codes revoked, data crypto-shredded",
		Args: cobra.ExactArgs(1),
		Long: `delete revokes every live code of a resident in every province and deletes
their record and data key (crypto-shredding), so that no copy of their data
can be read again, short of a key-store copy taken before ('hcnode backup
--keys-out'). It cannot be undone.

Without --yes it asks the node who the token is (a token that may not
delete, a node out of reach, is refused before anyone types --yes), says
what it would do and changes nothing. It does not read the record (a read
of a resident is audited and counted): an id the node does not have is
refused (not_found) only with --yes, and nothing is changed. With --yes it
says the same in the present tense and does it.`}
	dc := addClientFlags(del)
	yes := addYesFlag(del, "the record cannot be brought back")
	del.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/subjects/%s", args[0])
		if err != nil {
			return err
		}
		p, err := startPlan(cmd.Context(), cmd.OutOrStdout(), *yes, mayDeleteSubject(dc, args[0]))
		if err != nil {
			return err
		}
		p.head("Deleting resident %s", args[0])
		p.step("revoke every live code of theirs, in every province", "revoking every live code of theirs, in every province")
		p.step("delete their record and data key, so that no copy of their data can be read again",
			"deleting their record and data key, so that no copy of their data can be read again")
		p.note("This cannot be undone.")
		if !*yes {
			p.note(notLookedUp)
		}
		if p.stop() {
			return nil
		}
		if err := dc.do(cmd.Context(), http.MethodDelete, path, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted subject %s\n", args[0])
		return nil
	}
	sub.AddCommand(show, del, newSubjectTokenCmd(), newWithdrawPaperCmd())
	return sub
}

// newWithdrawPaperCmd is 'subject withdraw-paper': a resident's printed
// code was lost or stolen.
func newWithdrawPaperCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "withdraw-paper ID", Short: "Withdraw a resident's lost or stolen paper codes; their phone codes stay valid",
		Args: cobra.ExactArgs(1),
		Long: `withdraw-paper revokes every live paper code of a resident, in every
province, for a printed code that was lost or stolen: whoever holds it is
refused at the next scan. It cannot be undone. The resident's phone codes
and status stay as they are; print a new paper code ('hcnode issue
--subject ID --paper') if they still need one.

Without --yes it asks the node who the token is (a token that is no
operator's, a node out of reach, is refused before anyone types --yes),
says what it would do and changes nothing; it does not look the resident
up, so an id the node does not have is refused (not_found) only with
--yes. With --yes it says the same in the present tense and does it.`}
	cl := addClientFlags(cmd)
	yes := addYesFlag(cmd, "every live paper code of the resident is refused everywhere")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/subjects/%s/paper-codes", args[0])
		if err != nil {
			return err
		}
		p, err := startPlan(cmd.Context(), cmd.OutOrStdout(), *yes, cl.mayOperate())
		if err != nil {
			return err
		}
		p.head("Withdrawing the paper codes of resident %s", args[0])
		p.step("revoke every live paper code of theirs in every province: each is refused at its next scan",
			"revoking every live paper code of theirs in every province: each is refused at its next scan")
		p.note("This cannot be undone. Their phone codes and status stay as they are.")
		if !*yes {
			p.note(notLookedUp)
		}
		if p.stop() {
			return nil
		}
		var out struct {
			Revoked int `json:"revoked"`
		}
		if err := cl.do(cmd.Context(), http.MethodDelete, path, nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "withdrew %s of resident %s; their phone codes stay valid\n",
			count(out.Revoked, "paper code"), args[0])
		return nil
	}
	return cmd
}

// newSubjectTokenCmd replaces a resident's token (POST
// /v1/subjects/{id}/token).
func newSubjectTokenCmd() *cobra.Command {
	var idNumber string
	cmd := &cobra.Command{
		Use:   "token ID --id-number N|- [--yes]",
		Short: "Give a resident a new token and wallet link; every earlier one, and the codes on the old phone, stop working at once",
		Long: `token gives a resident a new token and wallet link, for a phone that was
lost or seen by someone else: every token the resident held stops working at
once, in the wallet and the API, and the codes issued to the old phone are
revoked at every province (so a finder cannot show the code on its screen);
their paper codes stay valid ("hcnode subject withdraw-paper" withdraws a lost
one). With the resident present: the node checks the ID number on
their identity card against the record (--id-number -: read it from stdin,
so it stays out of ps and shell history). Prints id, resident token, wallet
link (shown this once) and how many phone codes were revoked.

Without --yes it asks the node who the token is (a token that is no
operator's, a node out of reach, is refused before anyone types --yes),
says what it would do and changes nothing: it neither reads the ID number
nor sends it, nor looks the resident up, so an id the node does not have or
an ID number that does not match is refused only with --yes. With --yes it
says the same in the present tense (on stderr: stdout is the new token) and
does it.`,
		Args: cobra.ExactArgs(1),
	}
	cl := addClientFlags(cmd)
	cmd.Flags().StringVar(&idNumber, "id-number", "", `the resident's ID number, from their identity card ("-": from stdin) (required)`)
	_ = cmd.MarkFlagRequired("id-number")
	yes := addYesFlag(cmd, "the resident's earlier tokens and the codes on the old phone stop working for good")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/subjects/%s/token", args[0])
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if *yes {
			w = cmd.ErrOrStderr() // stdout is the new token
		}
		p, err := startPlan(cmd.Context(), w, *yes, cl.mayOperate())
		if err != nil {
			return err
		}
		p.head("Replacing the token of resident %s", args[0])
		p.step("refuse every token they held at once, in the wallet and the API", "refusing every token they held at once, in the wallet and the API")
		p.step("revoke the codes issued to the old phone, in every province", "revoking the codes issued to the old phone, in every province")
		p.step("give them a new token and wallet link, shown this once", "giving them a new token and wallet link, shown this once")
		p.note("This cannot be undone: the old phone's link and codes never work again. Their paper codes stay valid.")
		if !*yes {
			p.note(notLookedUp + " The ID number is checked against the record then too.")
		}
		if p.stop() {
			return nil
		}
		if idNumber == "-" {
			var err error
			if idNumber, err = stdinLine(cmd, "the ID number"); err != nil {
				return err
			}
		}
		var out struct {
			ID            string `json:"id"`
			ResidentToken string `json:"resident_token"`
			WalletURL     string `json:"wallet_url"`
			Revoked       int    `json:"revoked"`
		}
		in := map[string]string{"id_number": idNumber}
		if err := cl.do(cmd.Context(), http.MethodPost, path, in, &out); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "revoked %s issued to the old phone: every province refuses %s; the resident's paper codes stay valid\n",
			count(out.Revoked, "code"), noun(out.Revoked, "it", "them"))
		return printJSON(cmd.OutOrStdout(), out)
	}
	return cmd
}

func newLookupCmd() *cobra.Command {
	var in node.LookupInput
	cmd := &cobra.Command{
		Use:   "lookup --code CODE | --iss PROVINCE --jti JTI",
		Short: "Ask another province for the holder of its code: name and phone, with a legal basis and a case",
		Long: `lookup asks the home province of a code for its holder's name and phone,
stating the legal basis and the case. Both provinces audit it, and the
resident can see it. The answer is printed once; this node keeps it sealed
until privacy.retention.lookups ends. Name the code by its text (--code) or
by its issuing province and id as a scanner showed them (--iss, --jti).

The home province answers only a lookup that proves the code was seen: the
code's text proves it by itself; its province and id prove it only for a
code this node (or one of its verifier replicas) verified, and otherwise
nothing is sent (lookup_not_scanned): ask again with --code.`,
		Args: cobra.NoArgs,
	}
	cl := addClientFlags(cmd)
	cmd.Flags().StringVar(&in.Code, "code", "", "the code's text (HCF1:...)")
	cmd.Flags().StringVar(&in.Issuer, "iss", "", "the code's issuing province, e.g. 110000")
	cmd.Flags().StringVar(&in.JTI, "jti", "", "the code's id")
	cmd.Flags().StringVar(&in.LegalBasis, "legal-basis", "", "the legal basis of the request (required)")
	cmd.Flags().StringVar(&in.CaseID, "case-id", "", "the case it is for (required)")
	_ = cmd.MarkFlagRequired("legal-basis")
	_ = cmd.MarkFlagRequired("case-id")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case in.Code != "" && (in.Issuer != "" || in.JTI != ""):
			return errors.New("name the code either by --code or by --iss and --jti, not both")
		case in.Code == "" && (in.Issuer == "" || in.JTI == ""):
			return errors.New("name the code by --code, or by both --iss and --jti")
		}
		var out any
		if err := cl.do(cmd.Context(), http.MethodPost, "/v1/lookups", in, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	return cmd
}

func newLookupsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lookups SUBJECT",
		Short: "List every time another province obtained a resident's contact data from this one",
		Args:  cobra.ExactArgs(1),
	}
	cl := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/subjects/%s/lookups", args[0])
		if err != nil {
			return err
		}
		var out any
		if err := cl.do(cmd.Context(), http.MethodGet, path, nil, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	return cmd
}

// notLookedUp is the note of a plan about one resident, shown without
// --yes: the plan does not read their record, whose every read is
// audited and counted.
const notLookedUp = "The resident was not looked up (a read of their record is audited): an id this node does not have is refused (not_found) with --yes, changing nothing."

// mayDeleteSubject is the check of deleting resident id: an operator's
// token may, and a resident's for their own record; any other is
// forbidden.
func mayDeleteSubject(cl *client, id string) callerCheck {
	return func(ctx context.Context) error {
		w, err := cl.caller(ctx)
		if err != nil {
			return err
		}
		if w.Role == string(node.RoleResident) && w.SubjectID == id {
			return nil
		}
		return node.RequireOperator(w.principal())
	}
}
