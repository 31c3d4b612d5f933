package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

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
	resolve := &cobra.Command{Use: "resolve ID", Short: "Resolve an open appeal: upheld (optionally with a new status) or rejected",
		Args: cobra.ExactArgs(1),
		Long: `resolve records the outcome of an appeal, with a note the resident sees.
An upheld appeal may set a new health status (--status): the resident's live
codes are revoked and they get codes of the new colour.`}
	rc := addClientFlags(resolve)
	resolve.Flags().StringVar(&res.Outcome, "outcome", "", "upheld or rejected (required)")
	resolve.Flags().StringVar(&res.Note, "note", "", "the reason, which the resident sees (required)")
	resolve.Flags().StringVar(&res.Status, "status", "", "with upheld: the resident's new status, green, yellow or red")
	_ = resolve.MarkFlagRequired("outcome")
	_ = resolve.MarkFlagRequired("note")
	resolve.RunE = func(cmd *cobra.Command, args []string) error {
		var out any
		if err := rc.do(cmd.Context(), http.MethodPut, "/v1/appeals/"+url.PathEscape(args[0]), res, &out); err != nil {
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
