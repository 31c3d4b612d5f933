package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// notChanged ends the plan of a command run without --yes.
const notChanged = "Nothing was changed. Run again with --yes to do it."

// plan is what a command that cannot be undone says before it acts, in
// restore's form: without --yes, what it would do ("X would:", its
// steps, then notChanged), changing nothing and ending with exit status
// 0; with --yes, the same steps in the present tense ("X:", "revoking
// ..."), then it acts and says what it did.
type plan struct {
	w   io.Writer
	yes bool
}

// startPlan begins the plan of a command that cannot be undone, to be
// said on w: it first asks the node whether the caller may carry it out
// (may, as mayAdmin), with --yes as without, so that a node out of reach
// or a token the node would refuse is told so before any line of the plan
// is printed or anything is done. Every command that shows a plan starts
// it here.
func startPlan(ctx context.Context, w io.Writer, yes bool, may callerCheck) (plan, error) {
	if err := may(ctx); err != nil {
		return plan{}, err
	}
	return plan{w: w, yes: yes}, nil
}

// form is would without --yes, doing with it.
func (p plan) form(would, doing string) string {
	if p.yes {
		return doing
	}
	return would
}

// head prints the plan's first line: what is done to what, as in
// "Disabling account li.na would:" or "Disabling account li.na:".
func (p plan) head(format string, args ...any) {
	fmt.Fprintf(p.w, format+p.form(" would:", ":")+"\n", args...)
}

// step prints one step of the plan in its tense.
func (p plan) step(would, doing string) {
	fmt.Fprintln(p.w, "  "+p.form(would, doing))
}

// note prints a line of the plan that reads the same in both tenses,
// such as what cannot be undone.
func (p plan) note(line string) {
	fmt.Fprintln(p.w, "  "+line)
}

// stop ends a plan without --yes (notChanged) and reports whether the
// command must stop there.
func (p plan) stop() bool {
	if !p.yes {
		fmt.Fprintln(p.w, notChanged)
	}
	return !p.yes
}

// addYesFlag adds --yes, whose usage says what it confirms.
func addYesFlag(cmd *cobra.Command, confirms string) *bool {
	yes := new(bool)
	cmd.Flags().BoolVar(yes, "yes", false, "confirm: "+confirms)
	return yes
}
