package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestIrreversibleCommandsAskForYes checks that every command that cannot
// be undone has --yes, whose usage says what it confirms, that its help
// says what the run without it does, and that a plan reads in both tenses
// as restore's does.
func TestIrreversibleCommandsAskForYes(t *testing.T) {
	root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
	for _, path := range [][]string{
		{"keys", "compromise"}, {"keys", "rekey-content"}, {"scanner", "remove"}, {"replica", "remove"}, {"account", "disable"},
		{"subject", "delete"}, {"subject", "token"}, {"subject", "withdraw-paper"}, {"sunset"}, {"restore"},
	} {
		cmd, _, err := root.Find(path)
		if err != nil || cmd.Name() != path[len(path)-1] {
			t.Errorf("hcnode %s: not found (%v)", strings.Join(path, " "), err)
			continue
		}
		if f := cmd.Flags().Lookup("yes"); f == nil {
			t.Errorf("hcnode %s has no --yes", strings.Join(path, " "))
		} else if !strings.HasPrefix(f.Usage, "confirm: ") {
			t.Errorf("hcnode %s --yes says %q, not what it confirms (addYesFlag)", strings.Join(path, " "), f.Usage)
		}
		if !strings.Contains(cmd.Long, "Without --yes") {
			t.Errorf("hcnode %s --help does not say what it does without --yes:\n%s", strings.Join(path, " "), cmd.Long)
		}
	}

	var w bytes.Buffer
	for _, yes := range []bool{false, true} {
		p := plan{w: &w, yes: yes}
		p.head("Removing scanner %s", "sc_1")
		p.step("refuse its token", "refusing its token")
		p.note("This cannot be undone.")
		if stop := p.stop(); stop == yes {
			t.Errorf("plan{yes: %v}.stop() = %v", yes, stop)
		}
	}
	want := "Removing scanner sc_1 would:\n  refuse its token\n  This cannot be undone.\n" + notChanged + "\n" +
		"Removing scanner sc_1:\n  refusing its token\n  This cannot be undone.\n"
	if w.String() != want {
		t.Errorf("plans say\n%s\nwant\n%s", w.String(), want)
	}
}

// TestEveryCommandChecksItsArguments checks that no command ignores
// arguments it does not take: cobra accepts any for a command without
// Args, so 'hcnode serve other.yaml' would serve ./hcnode.yaml. Each
// wrong count is a usage error (argsAreUsage).
func TestEveryCommandChecksItsArguments(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Runnable() && !c.HasSubCommands() && c.Args == nil && c.Name() != "help" {
			t.Errorf("%s takes any arguments and ignores them: give it Args (cobra.NoArgs...)", c.CommandPath())
		}
	}
	walk(newRoot(&bytes.Buffer{}, &bytes.Buffer{}))

	_, _, err := runCLI(t, "", "serve", "other.yaml")
	if err == nil || !isUsageError(err) || !strings.Contains(err.Error(), `unknown command "other.yaml" for "hcnode serve"`) {
		t.Errorf("hcnode serve other.yaml: %v, want a usage error", err)
	}
}
