// Command hcnode runs and administers a province's health-code node.
//
//	hcnode demo                      three federated provinces on this machine
//	hcnode init --province 440000 --name Guangdong --data DIR   a new province
//	hcnode check --config FILE       would serve start it? (changes nothing)
//	hcnode serve --config FILE       run a node
//
// Run 'hcnode help' for every command.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	root := newRoot(os.Stdout, os.Stderr)
	if cmd, err := root.ExecuteC(); err != nil {
		fmt.Fprintln(os.Stderr, "hcnode:", err)
		if isUsageError(err) {
			fmt.Fprintln(os.Stderr)
			fmt.Fprint(os.Stderr, cmd.UsageString())
		}
		var ex exitStatus
		if errors.As(err, &ex) {
			os.Exit(ex.code)
		}
		os.Exit(1)
	}
}

// exitStatus is an error that ends hcnode with its own exit status
// rather than 1: a command that finished but has something to report,
// such as statuses' refused lines (2), so that a script can tell it
// from a failure.
type exitStatus struct {
	code int
	error
}

func (e exitStatus) Unwrap() error { return e.error }

// usageError is a command line cobra could not make sense of.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// isUsageError reports whether err is about how hcnode was called rather
// than about what it did, so that main prints the usage with it. Cobra
// reports an unknown command and a missing required flag as plain
// errors; flag errors come through the FlagErrorFunc, and a wrong number
// of arguments through argsAreUsage, as usageError.
func isUsageError(err error) bool {
	var u usageError
	return errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command ") ||
		strings.HasPrefix(err.Error(), "required flag(s) ")
}

// argsAreUsage makes the argument check of c and every command below it
// (cobra.ExactArgs...) return a usageError, so that a missing or extra
// argument is shown with the usage that names the arguments.
func argsAreUsage(c *cobra.Command) {
	for _, sub := range c.Commands() {
		argsAreUsage(sub)
	}
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
}

// version names this build when the build line sets it:
//
//	go build -ldflags "-X main.version=v1.4.0" ./cmd/hcnode
//
// A build without VCS information (GOFLAGS=-buildvcs=false, a source
// tarball) is told apart from another only by it.
var version string

// versionString is what 'hcnode --version' prints: version (or, unset,
// the module version the Go toolchain recorded, "(devel)" for a build
// from a checkout), the VCS revision and whether the tree was modified,
// when the toolchain recorded them, and the Go version.
func versionString() string {
	bi, _ := debug.ReadBuildInfo() // nil without build information
	return describeVersion(version, bi)
}

// describeVersion is versionString of set (version) and bi (nil when the
// binary carries no build information).
func describeVersion(set string, bi *debug.BuildInfo) string {
	if bi == nil {
		if set == "" {
			return "unknown"
		}
		return set
	}
	v := set
	if v == "" {
		v = bi.Main.Version
	}
	var rev, when, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	switch {
	case rev != "" && when != "":
		v += " (" + rev + dirty + ", " + when + ")"
	case rev != "":
		v += " (" + rev + dirty + ")"
	case set == "":
		v += " (no VCS information: build with -ldflags \"-X main.version=...\" to name it)"
	}
	return v + " " + bi.GoVersion
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "hcnode",
		Short:         "A province node of the HCFed health-code federation",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newInitCmd(), newServeCmd(), newCheckCmd(), newDemoCmd(), newIssueCmd(), newVerifyCmd(),
		newKeysCmd(), newScannerCmd(), newTrustCmd(), newAuditCmd(), newSunsetCmd(), newBackupCmd(), newRestoreCmd())
	root.AddCommand(newReplicaCmd())
	root.AddCommand(newEnrolCmd(), newNoticeCmd(), newStatusCmd(), newSubjectCmd(), newAppealsCmd(), newLookupCmd(), newLookupsCmd(),
		newAccountCmd(), newStatusesCmd())
	root.AddCommand(newNATSConfigCmd(), newNATSSetupCmd())
	refuseUnknownSubcommands(root)
	argsAreUsage(root)
	return root
}

// refuseUnknownSubcommands makes every command group below root (keys,
// scanner, appeals...) refuse a subcommand it does not know, as root does,
// where cobra would print the group's help and succeed.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasParent() || !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.DisableFlagsInUseLine = true
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
		}
		return cmd.Help()
	}
}

// newLogger makes the process logger: JSON or text on stderr.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
