package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/store"
)

// maxListedIDs bounds the ids a restore lists of one kind; beyond, it
// counts them and says where to list them all.
const maxListedIDs = 50

// printRestoreReport tells the operator what a restore of the backup s
// describes brings back that may have been removed since it was taken,
// which the node cannot learn from the federation, and how to find and
// redo those removals. Ids and counts only: never a name.
func printRestoreReport(w io.Writer, s store.BackupSummary, unpair, done bool) {
	since := "its newest change, " + stamp(s.LastChange)
	if !s.TakenAt.IsZero() {
		since = stamp(s.TakenAt)
	}
	if s.TakenAt.IsZero() && s.LastChange.IsZero() {
		since = "the backup (its time is not recorded)"
	}
	holds := "holds"
	if !done {
		holds = "would hold"
	}
	fmt.Fprintf(w, "The backup was taken at %s. Whatever was removed after it is valid again: the restored database %s, as then:\n", since, holds)
	fmt.Fprintf(w, "  %s and %s (a link replaced after the backup is revoked again at the next start: the federation holds its revocation)\n",
		count(s.Residents, "resident"), count(s.ResidentLinks, "wallet link"))
	if unpair {
		fmt.Fprintf(w, "  no scanner: the %d it holds %s removed (%s); register each device again (hcnode scanner add) and open its new link on it\n",
			len(s.Scanners), map[bool]string{true: noun(len(s.Scanners), "is", "are"), false: "would be"}[done], idList(s.Scanners, "hcnode scanner list"))
	} else {
		fmt.Fprintf(w, "  %s: %s\n", count(len(s.Scanners), "scanner"), idList(s.Scanners, "hcnode scanner list"))
	}
	fmt.Fprintf(w, "  %s: %s\n", count(len(s.Replicas), "verifier replica", "verifier replicas"), idList(s.Replicas, "hcnode replica list"))
	fmt.Fprintf(w, "  %s: %s\n", count(len(s.Accounts), "enabled account"), idList(s.Accounts, "hcnode account list"))
	toks := make([]string, len(s.OperatorTokens))
	for i, t := range s.OperatorTokens {
		toks[i] = t.ID + " (account " + t.Account + ")"
	}
	fmt.Fprintf(w, "  %s: %s\n", count(len(toks), "unexpired operator token"), idList(toks, "hcnode account list"))
	fmt.Fprintf(w, "Redo the removals made since %s, which only the node's log records (the audit log is restored with the database): search it for\n", since)
	if !unpair {
		fmt.Fprintf(w, "  \"msg\":%q, field scanner: hcnode scanner remove --yes SCANNER\n", node.LogScannerRemoved)
	}
	fmt.Fprintf(w, "  \"msg\":%q, field replica: hcnode replica remove --yes REPLICA\n", node.LogReplicaRemoved)
	fmt.Fprintf(w, "  \"msg\":%q, fields account and token_id: hcnode account revoke ACCOUNT TOKEN_ID\n", node.LogOperatorTokenRevoked)
	fmt.Fprintf(w, "  \"msg\":%q, field account: hcnode account disable --yes ACCOUNT\n", node.LogAccountDisabled)
	if !unpair && len(s.Scanners) > 0 {
		fmt.Fprintln(w, "  (or restore with --unpair-scanners, which removes every scanner, to be registered again)")
	}
	fmt.Fprintf(w, "A status set after the backup for a resident who held no live code revoked nothing, so the node cannot know of it:\n"+
		"  send the health authority's whole list of status changes since %s again (hcnode statuses), not only those of the residents the node holds.\n", since)
}

// idList joins ids, up to maxListedIDs, saying how to list them all.
func idList(ids []string, all string) string {
	switch {
	case len(ids) == 0:
		return "none"
	case len(ids) > maxListedIDs:
		return strings.Join(ids[:maxListedIDs], ", ") + fmt.Sprintf(", and %d more (%s, once the node runs)", len(ids)-maxListedIDs, all)
	}
	return strings.Join(ids, ", ")
}

// stamp formats a time for the report, in UTC to the second.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
