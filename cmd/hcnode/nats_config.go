package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/trust"
	"github.com/spf13/cobra"
)

// natsServerConf is the name of the configuration nats-config writes.
const natsServerConf = "nats-server.conf"

func newNATSConfigCmd() *cobra.Command {
	var (
		listFile, out, host, storeDir, name, clusterFile, confName string
		port, replicas, consumers, conns, subs                     int
		force, dryRun                                              bool
	)
	cmd := &cobra.Command{
		Use:   "nats-config --trust-list FILE --out DIR",
		Short: "Write the NATS server configuration and NKey seeds that isolate the federation's provinces",
		Long: `Writes DIR/nats-server.conf for the federation named by the trust list:
one NATS account per member province and one for the federation operators,
each with its own JetStream quota, and the exports and imports through which
the server copies every member's statements to every account. The
configuration holds public NKeys only. Beside it, one seed file (0600) per
user: <province>.nk for the province's node, <province>-verifier.nk for its
verify-only replicas, <province>-admin.nk and operator.nk for the operators
(hcnode nats-setup, hcnode trust publish). Hand each province only its own
<province>.nk and <province>-verifier.nk.

Seeds already in DIR are kept, so a member can be added without locking the
others out; --force replaces them all. Run 'hcnode nats-setup' after the
server (re)starts with the configuration.

For a cluster, run it once per server into the same --out, each with its
own --conf, --server-name, --port, --store-dir and --cluster-block, and
--replicas 3: the seeds written by the first run are kept by the others, so
every server holds the same accounts and users.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listFile == "" || out == "" {
				return usageError{errors.New("--trust-list and --out are required")}
			}
			if confName == "" || filepath.Base(confName) != confName {
				return usageError{fmt.Errorf("--conf %q: a file name inside --out, without a directory", confName)}
			}
			fed, members, err := trustListMembers(listFile)
			if err != nil {
				return err
			}
			var cluster []byte
			if clusterFile != "" {
				if cluster, err = os.ReadFile(clusterFile); err != nil {
					return err
				}
			}
			keep := map[string][]byte{}
			if !force {
				if keep, err = federation.ReadSeeds(out, members); err != nil {
					return err
				}
			}
			gen, err := federation.GenerateServerConfig(members, federation.AccountsOptions{Federation: fed,
				ServerName: name, Host: host, Port: port, StoreDir: storeDir, Replicas: replicas,
				MaxConsumers: consumers, MaxConnections: conns, MaxSubscriptions: subs, Keep: keep, ClusterBlock: string(cluster)})
			if err != nil {
				return err
			}
			explainNATSConfig(cmd.OutOrStdout(), filepath.Join(out, confName), fed, members, gen, keep, dryRun)
			if dryRun {
				return nil
			}
			if _, err := federation.WriteSeeds(out, gen, force); err != nil {
				return err
			}
			conf := filepath.Join(out, confName)
			if err := os.WriteFile(conf, gen.Config, 0o644); err != nil {
				return err
			}
			setup := fmt.Sprintf("hcnode nats-setup --dir %s --trust-list %s", out, listFile)
			if u := clientURL(host, port); u != defaultNATSURL {
				setup += " --nats " + u // its default would miss this server
			}
			fmt.Fprintf(cmd.OutOrStdout(), "written. Next: start nats-server -c %s, then %s\n", conf, setup)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listFile, "trust-list", "", "the federation's trust list: its members get accounts (required)")
	f.StringVar(&out, "out", "", "directory for nats-server.conf and the seeds (required)")
	f.StringVar(&host, "host", "", "client listen host written into the configuration")
	f.IntVar(&port, "port", 0, "client port written into the configuration")
	f.StringVar(&storeDir, "store-dir", "", "JetStream store directory written into the configuration")
	f.StringVar(&name, "server-name", "", "server_name written into the configuration")
	f.StringVar(&clusterFile, "cluster-block", "", "file holding a cluster { ... } block to include (clustered servers)")
	f.StringVar(&confName, "conf", natsServerConf, "file name of the configuration in --out: one per server of a cluster (nats-1.conf, ...), all sharing the seeds in --out")
	f.IntVar(&replicas, "replicas", 1, "JetStream replicas the nodes use: account quotas are multiplied by it")
	f.IntVar(&consumers, "max-consumers", federation.DefaultAccountMaxConsumers, "consumer quota of each account")
	f.IntVar(&conns, "max-connections", federation.DefaultAccountMaxConnections, "client connections each account may hold: its node, replicas and admin tools; keep their sum under the server's max_connections")
	f.IntVar(&subs, "max-subscriptions", federation.DefaultAccountMaxSubscriptions, "subscriptions each connection of an account may hold")
	f.BoolVar(&force, "force", false, "replace the seeds already in --out (every node needs its new seed)")
	f.BoolVar(&dryRun, "dry-run", false, "say what would be written, write nothing")
	return cmd
}

// defaultNATSURL is where nats-setup and trust publish look for the
// federation's NATS unless told --nats.
const defaultNATSURL = "nats://127.0.0.1:4222"

// clientURL is the URL a client on this machine reaches a server at that
// nats-config wrote with --host and --port: an unspecified host (none, or
// 0.0.0.0) by loopback, no port by NATS's own, 4222.
func clientURL(host string, port int) string {
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = 4222
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// explainNATSConfig says what nats-config writes, before it writes it.
func explainNATSConfig(w io.Writer, conf, fed string, members []string, gen *federation.GeneratedConfig, keep map[string][]byte, dryRun bool) {
	verb := "writing"
	if dryRun {
		verb = "would write"
	}
	fmt.Fprintf(w, "federation %s, %s (%s): one NATS account each, plus one for the operators\n", fed, count(len(members), "province"), strings.Join(members, ", "))
	fmt.Fprintf(w, "%s %s (public keys only)\n", verb, conf)
	for _, s := range gen.Seeds {
		state := "new seed"
		if _, ok := keep[s.File]; ok {
			state = "kept"
		}
		fmt.Fprintf(w, "  %-22s %-9s %s, %s\n", s.File, s.Role, s.Account, state)
	}
}

// trustListMembers reads a trust list file: the federation and its
// member provinces.
func trustListMembers(file string) (string, []string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", nil, err
	}
	tl, err := trust.ParseTrustList(raw)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", file, err)
	}
	var members []string
	for id := range tl.Members {
		members = append(members, id)
	}
	slices.Sort(members)
	return tl.Federation, members, nil
}

func newNATSSetupCmd() *cobra.Command {
	var listFile, dir, natsURL string
	var replicas int
	cmd := &cobra.Command{
		Use:   "nats-setup --dir DIR --trust-list FILE [--nats URLS]",
		Short: "Create or update every account's JetStream assets, with the seeds nats-config wrote",
		Long: `Connects as the operators (DIR/operator.nk) and as each province's admin
(DIR/<province>-admin.nk) and creates or updates the account's own state
bucket, revocation stream and snapshot bucket, then its aggregates, sourced
from every member the trust list names. Run it after the server starts with
the configuration 'hcnode nats-config' wrote, and again after adding a member.
A server that cannot be reached (connection refused, no answer) fails at once;
a cluster just started is waited for while it places the streams' replicas.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listFile == "" || dir == "" {
				return usageError{errors.New("--trust-list and --dir are required")}
			}
			fed, members, err := trustListMembers(listFile)
			if err != nil {
				return err
			}
			// A cluster just started may need a while to place replicas
			// (SetupAccounts tries again for up to PlacementWait).
			// A server out of reach fails at once (OnePass), not at the
			// end of that wait.
			wait := defaultNATSTimeout + federation.PlacementWait
			ctx, cancel := context.WithTimeout(cmd.Context(), wait)
			defer cancel()
			fmt.Fprintf(cmd.OutOrStdout(), "setting up the accounts of federation %s (%s) on %s, as the operators and each province's admin: "+
				"a server out of reach fails at once; JetStream placing the streams' replicas is waited for, %s in all at most\n",
				fed, strings.Join(members, ", "), natsURL, wait)
			if err := federation.SetupAccounts(ctx, federation.SetupConfig{URLs: strings.Split(natsURL, ","),
				Federation: fed, Members: members, SeedDir: dir, Replicas: replicas, OnePass: true}); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "done: every account holds its own assets and the aggregates of all members")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listFile, "trust-list", "", "the federation's trust list (required)")
	f.StringVar(&dir, "dir", "", "directory holding operator.nk and <province>-admin.nk (required)")
	f.StringVar(&natsURL, "nats", defaultNATSURL, "NATS URL(s), comma-separated")
	f.IntVar(&replicas, "replicas", 1, "JetStream replicas of every asset")
	return cmd
}
