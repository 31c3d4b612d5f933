package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hcfed/hcfed/trust"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
)

// maxEnrolFile bounds an enrolment file read by 'hcnode enrol --file': one
// resident's JSON is a few hundred bytes.
const maxEnrolFile = 64 << 10

// howToReadNotice is the sentence that says where the privacy notice is.
const howToReadNotice = "read it with 'hcnode notice' or GET /v1/privacy"

func newEnrolCmd() *cobra.Command {
	var in node.Enrolment
	var file, accept string
	cmd := &cobra.Command{
		Use:   "enrol",
		Short: "Enrol a resident who accepted the privacy notice (through a running node)",
		Long: `enrol registers a resident with the node and prints their id, resident
token and wallet link, and nothing else: the token is shown once.

The resident must have read and accepted the privacy notice (` + howToReadNotice + `):
give the version they accepted with --accept-notice VERSION. Without it
nothing is sent.

The resident's data comes from --file F, a JSON object of the shape POST
/v1/subjects takes ({"name", "id_number", "phone", "status", "consent":
{"notice_version", "accepted"}}; F "-" reads standard input), or from
--name, --id-number and --phone. Prefer --file: command-line flags are
visible to every user of this machine in 'ps' and stay in shell history.
Give only the fields the node collects (privacy.collect).`,
		Args: cobra.NoArgs,
	}
	cl := addClientFlags(cmd)
	cmd.Flags().StringVar(&file, "file", "", `JSON file with the resident's data ("-": standard input)`)
	cmd.Flags().StringVar(&accept, "accept-notice", "", "version of the privacy notice the resident accepted (required unless the file records it)")
	cmd.Flags().StringVar(&in.Name, "name", "", "resident's name (visible in ps: prefer --file)")
	cmd.Flags().StringVar(&in.IDNumber, "id-number", "", "resident's ID number (visible in ps: prefer --file)")
	cmd.Flags().StringVar(&in.Phone, "phone", "", "resident's phone number (visible in ps: prefer --file)")
	cmd.Flags().StringVar(&in.Status, "status", "", "initial health status: green (default), yellow or red")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if file != "" {
			if flagsGiven(cmd, "name", "id-number", "phone", "status") {
				return errors.New("give the resident's data either in --file or in flags, not both")
			}
			var err error
			if in, err = readEnrolment(cmd.InOrStdin(), file); err != nil {
				return err
			}
		}
		if err := applyConsent(&in.Consent, accept); err != nil {
			return err
		}
		if in.Consent.NoticeVersion == "" {
			return errors.New(noConsent(cmd, cl))
		}
		var out struct {
			ID            string `json:"id"`
			ResidentToken string `json:"resident_token"`
			Status        string `json:"status"`
			WalletURL     string `json:"wallet_url"`
		}
		if err := cl.do(cmd.Context(), http.MethodPost, "/v1/subjects", in, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	return cmd
}

// flagsGiven reports whether any of the named flags was set.
func flagsGiven(cmd *cobra.Command, names ...string) bool {
	return slices.ContainsFunc(names, cmd.Flags().Changed)
}

// readEnrolment reads one enrolment from the JSON file name ("-": stdin)
// as the API would take it: unknown fields and trailing data are refused.
// Errors name the file and the problem, never a value from it.
func readEnrolment(stdin io.Reader, name string) (node.Enrolment, error) {
	var e node.Enrolment
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return e, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxEnrolFile+1))
	if err != nil {
		return e, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > maxEnrolFile {
		return e, fmt.Errorf("%s is over %d bytes: one resident's enrolment is expected", name, maxEnrolFile)
	}
	// The API's key rule: a key given twice or spelled as no field is
	// refused here as it would be there, not silently collapsed by the
	// decoding below before the enrolment is sent again as JSON.
	var ke *trust.KeyError
	switch err := trust.DecodeJSON(b, &e); {
	case err == nil:
		return e, nil
	case errors.Is(err, trust.ErrTrailingData):
		return e, fmt.Errorf("%s holds more than one JSON value: one resident's enrolment is expected", name)
	case errors.As(err, &ke):
		return e, fmt.Errorf("%s is not an enrolment as POST /v1/subjects takes it: %w", name, keyRefusal(err))
	default:
		return e, fmt.Errorf("%s is not an enrolment as POST /v1/subjects takes it: %w", name, err)
	}
}

// keyRefusal words a key CheckJSONKeys refused. It quotes the key only if
// it is an enrolment field's name in some case: any other key may be a
// value written where a key goes (a spreadsheet export that made the ID
// number a key), and these errors never quote a value.
func keyRefusal(err error) error {
	var ke *trust.KeyError
	if !errors.As(err, &ke) || ke.Problem != trust.KeyNotAField ||
		slices.ContainsFunc(enrolmentFields(), func(f string) bool { return strings.EqualFold(f, ke.Key) }) {
		return err
	}
	return fmt.Errorf("a key is none of its fields (%s)", strings.Join(enrolmentFields(), ", "))
}

// enrolmentFields lists the keys of an enrolment file, nested ones
// included, as node.Enrolment names them in JSON.
func enrolmentFields() []string {
	b, _ := json.Marshal(node.Enrolment{}) // a struct of strings and a bool: never fails
	var top map[string]json.RawMessage
	_ = json.Unmarshal(b, &top)
	var out []string
	for k, v := range top {
		out = append(out, k)
		var inner map[string]json.RawMessage
		if json.Unmarshal(v, &inner) == nil {
			for k := range inner {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// applyConsent merges --accept-notice into the consent a file may have
// recorded; the two must agree.
func applyConsent(c *node.ConsentInput, accept string) error {
	accept = strings.TrimSpace(accept)
	switch {
	case accept == "":
		if c.NoticeVersion != "" && !c.Accepted {
			return fmt.Errorf("the file names notice %s but does not record it as accepted: the resident must accept it", c.NoticeVersion)
		}
	case c.NoticeVersion != "" && c.NoticeVersion != accept:
		return fmt.Errorf("the file records consent to notice %s, and --accept-notice says %s: give one", c.NoticeVersion, accept)
	default:
		c.NoticeVersion, c.Accepted = accept, true
	}
	return nil
}

// noConsent is the refusal of an enrolment without consent, naming the
// current notice version when the node can be asked for it.
func noConsent(cmd *cobra.Command, cl *client) string {
	msg := "enrolment needs the resident's explicit consent to the privacy notice: " + howToReadNotice +
		", then give the version they accepted with --accept-notice VERSION"
	pub := *cl
	pub.public = true
	var n node.Notice
	if err := pub.do(cmd.Context(), http.MethodGet, "/v1/privacy", nil, &n); err == nil && n.Version != "" {
		msg += fmt.Sprintf(" (the current notice is version %s)", n.Version)
	}
	return msg
}

func newNoticeCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "notice",
		Short: "Show the node's privacy notice and its version, which residents consent to",
		Args:  cobra.NoArgs,
	}
	cl := addURLFlag(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole notice as JSON (GET /v1/privacy)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var n node.Notice
		if err := cl.do(cmd.Context(), http.MethodGet, "/v1/privacy", nil, &n); err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), n)
		}
		printNotice(cmd.OutOrStdout(), n)
		return nil
	}
	return cmd
}

// printNotice writes the notice's summary: version, purpose, what is
// collected and seen, how long it is kept, and its text in each language.
func printNotice(w io.Writer, n node.Notice) {
	fmt.Fprintf(w, "Privacy notice of province %s, version %s\n", n.Province, n.Version)
	fmt.Fprintf(w, "  purpose:        %s\n", n.Purpose)
	fmt.Fprintf(w, "  collected:      %s\n", strings.Join(n.Collected, ", "))
	fmt.Fprintf(w, "  a scanner sees: %s\n", strings.Join(n.ScannerSees, ", "))
	keys := make([]string, 0, len(n.Retention))
	for k := range n.Retention {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		label := ""
		if i == 0 {
			label = "retention:"
		}
		fmt.Fprintf(w, "  %-15s %s: %s\n", label, k, n.Retention[k])
	}
	for _, lang := range []string{"zh-CN", "en"} {
		if t := n.Text[lang]; t != "" {
			fmt.Fprintf(w, "\n[%s] %s\n", lang, t)
		}
	}
	fmt.Fprintf(w, "\nOnce the resident has read and accepted it: hcnode enrol --accept-notice %s --file FILE\n", n.Version)
}
