package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// demoProvince is one province of the demo federation.
type demoProvince struct {
	ID   string
	Name string
	Port int
}

var demoProvinces = []demoProvince{
	{"440000", "Guangdong", 8440},
	{"310000", "Shanghai", 8310},
	{"110000", "Beijing", 8110},
}

// DemoInfo is written to <data>/demo.json for scripts.
type DemoInfo struct {
	Provinces []DemoEntry `json:"provinces"`
}

// DemoEntry is one province in demo.json.
type DemoEntry struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	URL           string `json:"url"`
	OperatorToken string `json:"operator_token"`
	ScannerToken  string `json:"scanner_token"`
}

func newDemoCmd() *cobra.Command {
	var dataDir string
	var randomPorts bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run three provinces (440000 Guangdong, 310000 Shanghai, 110000 Beijing) on this machine",
		Long: `demo starts three province nodes in this process, each with its own
SQLite database and keys, prints their URLs with an operator and a scanner
token for each, and writes the same to <data>/demo.json. Without --data it
uses a temporary directory that is removed on exit; with --data the nodes
keep their state between runs. Stop it with Ctrl-C.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if dataDir == "" {
				tmp, err := os.MkdirTemp("", "hcnode-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dataDir = tmp
			}
			log := newLogger(cmd.ErrOrStderr(), "warn", "text")
			info, daemons, err := startDemo(ctx, dataDir, randomPorts, daemon.Options{Logger: log})
			for _, d := range daemons {
				defer d.Close()
			}
			if err != nil {
				return err
			}
			printDemo(cmd.OutOrStdout(), dataDir, info)
			<-ctx.Done()
			fmt.Fprintln(cmd.OutOrStdout(), "\nstopping the demo federation")
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "keep state in this directory (default: a temporary one)")
	cmd.Flags().BoolVar(&randomPorts, "random-ports", false, "listen on free ports instead of 8440, 8310, 8110")
	return cmd
}

// startDemo initialises (first run only) and starts the demo provinces.
// It returns the daemons started so far even on error, for closing.
func startDemo(ctx context.Context, dataDir string, randomPorts bool, opt daemon.Options) (DemoInfo, []*daemon.Daemon, error) {
	var info DemoInfo
	var ds []*daemon.Daemon
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return info, nil, err
	}
	for _, p := range demoProvinces {
		cfg := config.Default(p.ID)
		cfg.Name, cfg.DataDir = p.Name, filepath.Join(abs, p.ID)
		cfg.Listen = fmt.Sprintf("127.0.0.1:%d", p.Port)
		if randomPorts {
			cfg.Listen = "127.0.0.1:0"
		}
		ok, err := daemon.Initialized(ctx, cfg)
		if err != nil {
			return info, ds, err
		}
		if !ok {
			if _, err := daemon.Init(ctx, cfg); err != nil {
				return info, ds, fmt.Errorf("init %s: %w", p.ID, err)
			}
		}
		o := opt
		if o.Listener, err = net.Listen("tcp", cfg.Listen); err != nil {
			return info, ds, fmt.Errorf("%s: %w (is another demo running? try --random-ports)", p.Name, err)
		}
		d, err := daemon.Start(ctx, cfg, o)
		if err != nil {
			o.Listener.Close()
			return info, ds, fmt.Errorf("start %s: %w", p.ID, err)
		}
		ds = append(ds, d)
		op, err := d.Node.CreateOperatorToken(ctx, "demo")
		if err != nil {
			return info, ds, err
		}
		sc, err := d.Node.AddScanner(ctx, node.Principal{Role: node.RoleOperator}, "demo scanner", "checkpoint")
		if err != nil {
			return info, ds, err
		}
		info.Provinces = append(info.Provinces, DemoEntry{ID: p.ID, Name: p.Name, URL: d.URL, OperatorToken: op, ScannerToken: sc.Token})
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return info, ds, err
	}
	return info, ds, os.WriteFile(filepath.Join(abs, "demo.json"), b, 0o600)
}

func printDemo(w io.Writer, dataDir string, info DemoInfo) {
	fmt.Fprintf(w, "HCFed demo federation is running (data: %s)\n\n", dataDir)
	for _, p := range info.Provinces {
		fmt.Fprintf(w, "  %s %-9s  %s\n    operator token: %s\n    scanner token:  %s\n", p.ID, p.Name, p.URL, p.OperatorToken, p.ScannerToken)
	}
	gd := info.Provinces[0]
	fmt.Fprintf(w, `
Tokens and URLs are also in %s/demo.json. Try it:

  # enrol a resident in %[2]s (with consent to the current notice)
  curl -s -X POST %[3]s/v1/subjects -H 'Authorization: Bearer %[4]s' \
    -d '{"name":"张三","id_number":"11010519491231002X","consent":{"notice_version":"2026-11","accepted":true}}'
  # issue a code for the returned id
  curl -s -X POST %[3]s/v1/subjects/<id>/codes -H 'Authorization: Bearer %[4]s'
  # verify it as %[2]s's scanner
  curl -s -X POST %[3]s/v1/verify -H 'Authorization: Bearer %[5]s' -d '{"code":"HCF1:..."}'

Press Ctrl-C to stop.
`, dataDir, gd.Name, gd.URL, gd.OperatorToken, gd.ScannerToken)
}
