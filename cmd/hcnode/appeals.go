package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
)

func newAppealsCmd() *cobra.Command {
	ap := &cobra.Command{Use: "appeals", Short: "List, resolve or file residents' appeals of their health status"}

	var after string
	var limit int
	list := &cobra.Command{Use: "list", Short: "List open appeals, oldest first, a page at a time", Args: cobra.NoArgs,
		Long: `list prints a page of open appeals, oldest first, with each resident's
current status. When there are more, the page's "next" is the cursor of the
following page: pass it as --after.`}
	lc := addClientFlags(list)
	list.Flags().StringVar(&after, "after", "", `cursor: the previous page's "next"`)
	list.Flags().IntVar(&limit, "limit", 0, "appeals a page (the node's maximum if not given)")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		q := url.Values{}
		if after != "" {
			q.Set("after", after)
		}
		if list.Flags().Changed("limit") {
			q.Set("limit", strconv.Itoa(limit))
		}
		path := "/v1/appeals"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		var page map[string]any
		if err := lc.do(cmd.Context(), http.MethodGet, path, nil, &page); err != nil {
			return err
		}
		if next, _ := page["next"].(string); next != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "more open appeals: hcnode appeals list --after %s\n", next)
		}
		return printJSON(cmd.OutOrStdout(), page)
	}

	var res node.Resolution
	var since string
	resolve := &cobra.Command{Use: "resolve ID", Short: "Resolve an open appeal: upheld (with the status it sets) or rejected",
		Args: cobra.ExactArgs(1),
		Long: `resolve records the outcome of an appeal, with a note the resident reads
(name no other person in it). An upheld appeal names the status the resident
should have (--status): a status other than theirs is set, their live codes
are revoked and they get codes of the new colour; their own status is
recorded and changes nothing.

If the resident's status was set after the appeal was filed, the node
refuses the resolution (appeal_stale): the appeal may dispute a status that
is no longer theirs. Review it against the status 'appeals list' shows, then
resolve it again with --subject-status-since set to that listing's
subject_status_since; a status set after that time refuses it again.`}
	rc := addClientFlags(resolve)
	resolve.Flags().StringVar(&res.Outcome, "outcome", "", "upheld or rejected (required)")
	resolve.Flags().StringVar(&res.Note, "note", "", "the reason, which the resident reads; name no other person (required)")
	resolve.Flags().StringVar(&res.Status, "status", "", "with upheld: the resident's status as decided, green, yellow or red")
	resolve.Flags().StringVar(&since, "subject-status-since", "", "the subject_status_since of 'appeals list' you reviewed the appeal against (RFC 3339)")
	_ = resolve.MarkFlagRequired("outcome")
	_ = resolve.MarkFlagRequired("note")
	resolve.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := apiPath("/v1/appeals/%s", args[0])
		if err != nil {
			return err
		}
		if since != "" {
			t, err := time.Parse(time.RFC3339Nano, since)
			if err != nil {
				return usageError{fmt.Errorf("--subject-status-since %q is not a time as 'appeals list' prints it (RFC 3339)", since)}
			}
			res.SubjectStatusSince = &t
		}
		var out any
		if err := rc.do(cmd.Context(), http.MethodPut, path, res, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}

	var message string
	file := &cobra.Command{Use: "file SUBJECT", Short: "File an appeal for a resident at a service point (one without a phone)",
		Args: cobra.ExactArgs(1)}
	fc := addClientFlags(file)
	file.Flags().StringVar(&message, "message", "", "the resident's appeal, in their words (required)")
	_ = file.MarkFlagRequired("message")
	file.RunE = func(cmd *cobra.Command, args []string) error {
		var out any
		in := map[string]string{"subject_id": args[0], "message": message}
		if err := fc.do(cmd.Context(), http.MethodPost, "/v1/appeals", in, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	ap.AddCommand(list, resolve, file)
	return ap
}
