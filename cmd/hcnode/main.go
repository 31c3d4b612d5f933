// Command hcnode runs and administers a province's health-code node.
//
//	hcnode demo                      three federated provinces on this machine
//	hcnode init --province 440000    a new province: keys, KEK, config
//	hcnode serve --config FILE       run a node
//
// Run 'hcnode help' for every command.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRoot(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "hcnode:", err)
		os.Exit(1)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "hcnode",
		Short:         "A province node of the HCFed health-code federation",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newInitCmd(), newServeCmd(), newDemoCmd(), newIssueCmd(), newVerifyCmd(),
		newKeysCmd(), newScannerCmd(), newTrustCmd(), newAuditCmd(), newSunsetCmd())
	return root
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
