package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestPlansRefuseWhatTheNodeWouldRefuse checks that a command asks the
// node who the caller is before it shows a plan, without --yes and with
// it: an operator's token is told admin_required (and who can) by every
// admin's command, a feed's token forbidden by every operator's command,
// and a node out of reach or a missing token stop every plan; no line of
// a plan is printed for any of them, on stdout or stderr. An operator
// still gets the plans that are its to carry out.
func TestPlansRefuseWhatTheNodeWouldRefuse(t *testing.T) {
	n := startTestNode(t)
	useNode(t, n)
	token := func(args ...string) string {
		t.Helper()
		out, _, err := runCLI(t, "", args...)
		var acc struct{ Token string }
		if err != nil || json.Unmarshal([]byte(out), &acc) != nil || acc.Token == "" {
			t.Fatalf("hcnode %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return acc.Token
	}
	operator := token("account", "add", "li.na")
	feed := token("account", "add", "platform", "--role", "feed")
	out, _, err := runCLI(t, "", "keys", "list")
	var keys struct{ Keys []struct{ KID string } }
	if err != nil || json.Unmarshal([]byte(out), &keys) != nil || len(keys.Keys) == 0 {
		t.Fatalf("keys list: %v\n%s", err, out)
	}

	refused := func(tok, url, want string, args ...string) {
		t.Helper()
		t.Setenv("HCNODE_TOKEN", tok)
		t.Setenv("HCNODE_URL", url)
		for _, yes := range [][]string{nil, {"--yes"}} {
			args := slices.Concat(args[:2], yes, args[2:]) // after the subcommand, before any "--"
			out, errOut, err := runCLI(t, "", args...)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("hcnode %s: %v, want %q", strings.Join(args, " "), err, want)
			}
			if out != "" || errOut != "" {
				t.Errorf("hcnode %s showed a plan the node would refuse:\n%s%s", strings.Join(args, " "), out, errOut)
			}
		}
	}
	for _, c := range []struct {
		want string
		args []string
	}{
		{"admin_required: only an admin account may disable accounts", []string{"account", "disable", "li.na"}},
		{"admin_required: only an admin account may mark a signing key compromised", []string{"keys", "compromise", "--", keys.Keys[0].KID}},
		{"admin_required: only an admin account may remove a verifier replica", []string{"replica", "remove", "gd-verify-1"}},
		{"admin_required: only an admin account may start new content keys", []string{"keys", "rekey-content"}},
		{"admin_required: only an admin account may rotate the province's signing keys", []string{"keys", "rotate"}},
		{"admin_required: only an admin account may confirm a verifier replica's key", []string{"replica", "confirm", "gd-verify-1", strings.Repeat("A", 32)}},
	} {
		refused(operator, n.URL, c.want+": this token is an operator's (role operator); ask one of the province's admins", c.args...)
	}
	operators := [][]string{
		{"scanner", "remove", "sc_1"}, {"subject", "delete", "s_1"}, {"subject", "withdraw-paper", "s_1"},
		{"subject", "token", "s_1", "--id-number", "-"},
	}
	for _, args := range operators {
		refused(feed, n.URL, "forbidden: this token is a feed account's (role feed)", args...)
		refused(n.token, "http://127.0.0.1:1", "could not reach the node at http://127.0.0.1:1", args...)
		refused("", n.URL, "need --url and --token", args...)
	}

	// The plans an operator may carry out are shown to an operator.
	t.Setenv("HCNODE_URL", n.URL)
	t.Setenv("HCNODE_TOKEN", operator)
	for _, args := range operators[1:] {
		if out, _, err := runCLI(t, "", args...); err != nil || !strings.Contains(out, "would:") {
			t.Errorf("hcnode %s by an operator: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestSubjectTokenPlanNeedsTheIDNumber checks that 'subject token' without
// --id-number is refused as a usage error without --yes too, rather than
// shown a plan that --yes would send without an ID number.
func TestSubjectTokenPlanNeedsTheIDNumber(t *testing.T) {
	out, _, err := runCLI(t, "", "subject", "token", "s_1", "--url", "http://127.0.0.1:1", "--token", "hct_x")
	if err == nil || !isUsageError(err) || !strings.Contains(err.Error(), `"id-number"`) || strings.Contains(out, "would:") {
		t.Fatalf("subject token without --id-number: %v\n%s", err, out)
	}
}
