package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// demoProvince is one province of the demo federation.
type demoProvince struct {
	ID          string
	Name        string
	Port        int
	MetricsPort int // /metrics on a loopback listener of its own, as init writes
}

var demoProvinces = []demoProvince{
	{"440000", "Guangdong", 8440, 9440},
	{"310000", "Shanghai", 8310, 9310},
	{"110000", "Beijing", 8110, 9110},
}

// DemoInfo is written to <data>/demo.json for scripts.
type DemoInfo struct {
	Provinces []DemoEntry `json:"provinces"`
	NATS      string      `json:"nats"`
}

// DemoEntry is one province in demo.json.
type DemoEntry struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	URL        string `json:"url"`
	MetricsURL string `json:"metrics_url"`
	AdminToken string `json:"admin_token"`
	// OperatorToken is AdminToken under its first name, kept for the
	// scripts that read it.
	OperatorToken string `json:"operator_token"`
	ScannerToken  string `json:"scanner_token"`
}

// adminToken is the admin token of e: admin_token, or operator_token in
// a demo.json an earlier build wrote.
func (e DemoEntry) adminToken() string { return cmp.Or(e.AdminToken, e.OperatorToken) }

func newDemoCmd() *cobra.Command {
	var dataDir string
	var randomPorts bool
	cmd := &cobra.Command{
		Use:   "demo",
		Args:  cobra.NoArgs,
		Short: "Run three provinces (440000 Guangdong, 310000 Shanghai, 110000 Beijing) on this machine",
		Long: `demo starts three province nodes in this process, each with its own
SQLite database and keys, prints their URLs, with an admin and a scanner
token for each, and what each may do, and their /metrics, each on a
loopback port of its own (9440, 9310, 9110), and writes them to
<data>/demo.json (the admin's as admin_token, and as operator_token for
scripts written before). Without --data it
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
			info, cluster, err := startDemo(ctx, dataDir, randomPorts, log)
			if cluster != nil {
				defer cluster.Close()
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
	cmd.Flags().BoolVar(&randomPorts, "random-ports", false, "listen on free ports instead of 8440, 8310, 8110 (and 9440, 9310, 9110 for /metrics)")
	return cmd
}

// startDemo initialises (first run only) and starts the demo federation:
// one NATS server, three provinces, three operators of whom two signed the
// first trust list.
func startDemo(ctx context.Context, dataDir string, randomPorts bool, log *slog.Logger) (DemoInfo, *daemon.Cluster, error) {
	var info DemoInfo
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return info, nil, err
	}
	cc := daemon.ClusterConfig{Dir: abs, Federation: "demo", Operators: 3, Threshold: 2, NATSListen: "127.0.0.1:4222", Logger: log,
		Isolation: federation.IsolationAccounts}
	if randomPorts {
		cc.NATSListen = "127.0.0.1:-1"
	}
	for _, p := range demoProvinces {
		listen, metrics := fmt.Sprintf("127.0.0.1:%d", p.Port), fmt.Sprintf("127.0.0.1:%d", p.MetricsPort)
		if randomPorts {
			listen, metrics = "127.0.0.1:0", "127.0.0.1:0"
		}
		cc.Provinces = append(cc.Provinces, daemon.Province{ID: p.ID, Name: p.Name, Listen: listen, MetricsListen: metrics})
	}
	// With --data, a restart reuses the tokens of the first run (if they
	// still work) instead of minting new ones beside them.
	earlier := readDemoInfo(filepath.Join(abs, "demo.json"))
	cc.Tokens = map[string]string{}
	for _, p := range earlier.Provinces {
		cc.Tokens[p.ID] = p.adminToken()
	}
	c, err := daemon.StartCluster(ctx, cc)
	if err != nil {
		return info, nil, fmt.Errorf("%w (is another demo running? try --random-ports)", err)
	}
	for i, d := range c.Nodes {
		id := c.Configs[i].Province
		scanner := earlier.scannerToken(id)
		if p, err := d.Node.Authenticate(ctx, scanner); err != nil || p.Role != node.RoleScanner {
			admin, err := d.Node.Authenticate(ctx, c.Tokens[i])
			if err != nil {
				return info, c, err
			}
			sc, err := d.Node.AddScanner(ctx, admin, "demo scanner", "checkpoint")
			if err != nil {
				return info, c, err
			}
			scanner = sc.Token
		}
		info.Provinces = append(info.Provinces, DemoEntry{ID: id, Name: c.Configs[i].Name, URL: d.URL, MetricsURL: d.MetricsURL,
			AdminToken: c.Tokens[i], OperatorToken: c.Tokens[i], ScannerToken: scanner})
	}
	info.NATS = c.Server.ClientURL()
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return info, c, err
	}
	return info, c, os.WriteFile(filepath.Join(abs, "demo.json"), b, 0o600)
}

// readDemoInfo reads an earlier run's demo.json; a missing or unreadable
// file is an empty one.
func readDemoInfo(path string) DemoInfo {
	var info DemoInfo
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &info)
	}
	return info
}

// scannerToken is the scanner token the earlier run gave province id.
func (info DemoInfo) scannerToken(id string) string {
	for _, p := range info.Provinces {
		if p.ID == id {
			return p.ScannerToken
		}
	}
	return ""
}

func printDemo(w io.Writer, dataDir string, info DemoInfo) {
	fmt.Fprintf(w, "HCFed demo federation is running (data: %s, NATS: %s)\n", dataDir, info.NATS)
	fmt.Fprintf(w, "Trust list: %s/trustlist.json, signed by 2 of 3 operators (keys in %s/operators)\n", dataDir, dataDir)
	fmt.Fprintf(w, "NATS: one account per province, NKey users only (configuration and seeds in %s/nats-accounts)\n\n", dataDir)
	for _, p := range info.Provinces {
		fmt.Fprintf(w, "  %s %-9s  %s\n    admin token:    %s\n    scanner token:  %s\n", p.ID, p.Name, p.URL, p.AdminToken, p.ScannerToken)
		fmt.Fprintf(w, "    console: %s/console#token=%s\n    scanner: %s/scan#token=%s\n", p.URL, p.AdminToken, p.URL, p.ScannerToken)
		fmt.Fprintf(w, "    metrics: %s (this machine only)\n", p.MetricsURL)
	}
	gd, sh := info.Provinces[0], info.Provinces[1]
	fmt.Fprintf(w, "\n%s\nA scanner token is a checkpoint device's: it verifies codes and is shown a colour and a masked name, nothing else.\n"+
		"For daily work give each member of staff an operator account (hcnode account add NAME --url URL --token ADMIN_TOKEN):\n"+
		"an operator enrols, sets statuses, issues codes, handles appeals and scanners, and may not touch keys, replicas or accounts.\n",
		adminTokenMay)
	fmt.Fprintf(w, `
Tokens and URLs are also in %s/demo.json (admin_token; operator_token
is the same, for older scripts). Open a console link above in a browser: enrol a resident there and
open the wallet link it shows on a phone (or another browser), then check
the code with a scanner link. Or with curl:

  # enrol a resident in %[2]s (with consent to the current notice)
  curl -s -X POST %[3]s/v1/subjects -H 'Authorization: Bearer %[4]s' \
    -d '{"name":"张三","id_number":"11010519491231002X","consent":{"notice_version":"%[9]s","accepted":true}}'
  # issue a code for the returned id
  curl -s -X POST %[3]s/v1/subjects/<id>/codes -H 'Authorization: Bearer %[4]s'
  # verify it as %[2]s's scanner
  curl -s -X POST %[3]s/v1/verify -H 'Authorization: Bearer %[5]s' -d '{"code":"HCF1:..."}'
  # ...or in %[6]s, where it verifies locally with keys received over NATS
  curl -s -X POST %[7]s/v1/verify -H 'Authorization: Bearer %[8]s' -d '{"code":"HCF1:..."}'
  # the federation as %[6]s sees it
  curl -s %[7]s/v1/federation

Press Ctrl-C to stop.
`, dataDir, gd.Name, gd.URL, gd.AdminToken, gd.ScannerToken, sh.Name, sh.URL, sh.ScannerToken, config.NoticeVersion)
}
