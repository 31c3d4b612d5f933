package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/trust"
)

// adminTokenMay says what the admin token init and demo print may do.
const adminTokenMay = "An admin token does every operator's work and what reaches the whole province: " +
	"the signing and root keys, verifier replicas, accounts."

func newInitCmd() *cobra.Command {
	var province, name, dataDir, listen, natsListen, metricsListen, publicURL, federation, trustList, trustSum, admin string
	cmd := &cobra.Command{
		Use:   "init",
		Args:  cobra.NoArgs,
		Short: "Create a new province node: KEK, keys, database, config file and the first admin account",
		Long: `init creates, in --data:
  kek.key      the key-encryption key (mode 0600; or set HCNODE_KEK instead)
  node.db      the database, with a new root key, encryption key, signing key
               and content key, all sealed under the KEK
  keys.db      the residents' data keys, sealed under the KEK, kept apart from
               node.db so that deleting a resident shreds every copy of
               node.db: keep it out of long-lived backups (docs/privacy.md)
  hcnode.yaml  a config file to run the node with 'hcnode serve --config',
               /metrics on a loopback listener of its own (--metrics-listen)
  metrics.token with --metrics-listen "": the bearer token (mode 0600) that
               /metrics on --listen asks for (metrics_token_file); give
               Prometheus the same (authorization: credentials_file)
  root.pub.jwk the province root public key, for the federation operators
and the first admin account (--admin, default "admin"), whose token it
prints once. An admin does every operator's work and also what reaches the
whole province: the signing and root keys, verifier replicas, accounts.
Use it to create named operator accounts for the people who do the daily
work ('hcnode account add NAME'). It refuses to touch an initialised node.

With --trust-list FILE --trust-list-sha256 HEX it pins the federation's
first trust list: the file must have exactly that SHA-256 (obtained from
the operators out of band) and be validly signed by its own threshold of
operators; it is copied to <data>/trustlist.json.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkInitIdentity(name, dataDir); err != nil {
				return err
			}
			cfg := config.Default(province)
			cfg.Name, cfg.DataDir, cfg.Listen, cfg.Federation = name, dataDir, listen, federation
			cfg.NATS.Listen, cfg.PublicURL = natsListen, publicURL
			cfg.MetricsListen = initMetricsListen(metricsListen, listen, cmd.Flags().Changed("metrics-listen"))
			if cfg.MetricsListen == "" {
				cfg.MetricsTokenFile = config.DefaultMetricsTokenFile
			}
			abs, err := filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			cfg.DataDir = abs
			var pinned *trust.ParsedTrustList
			if trustList != "" || trustSum != "" {
				if pinned, err = pinTrustList(trustList, trustSum); err != nil {
					return err
				}
				if cmd.Flags().Changed("federation") && federation != pinned.Federation {
					return fmt.Errorf("--federation %s, but the trust list is of federation %s", federation, pinned.Federation)
				}
				cfg.Federation = pinned.Federation
				cfg.Trust.ListFile, cfg.Trust.ListSHA256 = filepath.Join(abs, "trustlist.json"), pinned.SHA256()
			}
			if ok, err := daemon.Initialized(cmd.Context(), cfg); err != nil {
				return err
			} else if ok {
				return fmt.Errorf("%s already holds a node; refusing to re-initialise it", dataDir)
			}
			tok, err := daemon.InitAdmin(cmd.Context(), cfg, admin)
			if err != nil {
				return err
			}
			if pinned != nil {
				if err := os.WriteFile(cfg.Trust.ListFile, pinned.Raw, 0o644); err != nil {
					return err
				}
			}
			if cfg.NATS.Embedded {
				// The embedded NATS gets credentials: one account per
				// member known now (this province, and the pinned list's).
				members := []string{province}
				if pinned != nil {
					for id := range pinned.Members {
						members = append(members, id)
					}
				}
				if err := daemon.UseEmbeddedAccounts(&cfg, members); err != nil {
					return fmt.Errorf("embedded nats credentials: %w", err)
				}
			}
			cfgPath := filepath.Join(abs, "hcnode.yaml")
			if err := writeConfig(cfgPath, cfg); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Initialised province %s in %s\n", province, abs)
			kek := cfg.KEKPath() + " (back it up; without it the keys are lost)"
			if os.Getenv(seal.EnvKEK) != "" {
				kek = "from $" + seal.EnvKEK + " (no file written; keep it where it came from: without it the keys are lost)"
			}
			fmt.Fprintf(out, "  config:         %s\n  KEK:            %s\n", cfgPath, kek)
			fmt.Fprintf(out, "  root key:       %s (give it to the federation operators)\n", daemon.RootJWKPath(cfg))
			// The operators check the key they list against the one the
			// province gave them by another channel: its key id is what
			// 'hcnode trust propose', 'show' and 'diff' print.
			if raw, err := os.ReadFile(daemon.RootJWKPath(cfg)); err == nil {
				if _, kid, err := trust.ParsePublicJWK(raw); err == nil {
					fmt.Fprintf(out, "  root key id:    %s (tell the operators by another channel: 'hcnode trust propose' and 'show' print it)\n", kid)
				}
			}
			if cfg.NATS.ServerConf != "" {
				fmt.Fprintf(out, "  embedded NATS:  %s, one account per province, NKey seeds beside it (0600)\n", cfg.NATS.ServerConf)
			}
			fmt.Fprintf(out, "  metrics:        %s\n", initMetricsWhere(cfg))
			fmt.Fprintf(out, "  admin account:  %s\n", admin)
			fmt.Fprintf(out, "  admin token:    %s\n  (shown once; stored only as a hash; expires in %s)\n", tok, cfg.Tokens.OperatorLifetime)
			fmt.Fprintf(out, "  %s\n", adminTokenMay)
			if pinned != nil {
				fmt.Fprintf(out, "  trust list:     version %d of federation %s pinned (sha256 %s)\n", pinned.Version, pinned.Federation, pinned.SHA256())
				if _, listed := pinned.Members[province]; !listed {
					fmt.Fprintf(out, "  NOTE: the trust list does not name %s yet: other provinces will not accept its codes\n"+
						"  until the operators add it with the root key above.\n", province)
				}
			}
			fmt.Fprintf(out, "Start it with: hcnode serve --config %s\n", cfgPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&province, "province", "", "GB/T 2260 province code, e.g. 440000 (required)")
	cmd.Flags().StringVar(&name, "name", "", "province name, e.g. Guangdong (required)")
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory to create (required)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	cmd.Flags().StringVar(&natsListen, "nats-listen", config.Default("").NATS.Listen,
		"the embedded NATS server's address (another one for a second node on this machine)")
	cmd.Flags().StringVar(&publicURL, "public-url", "",
		"the https:// address residents and scanners use (public_url), the base of wallet and scanner links; required unless --listen is a loopback address")
	cmd.Flags().StringVar(&metricsListen, "metrics-listen", config.DefaultMetricsListen,
		`a listener of its own for /metrics (metrics_listen), which --listen then answers 404; "" serves /metrics on --listen, only with the bearer token init writes to <data>/`+config.DefaultMetricsTokenFile+` (metrics_token_file). `+
			"Unset, with --listen on port 0 (a free port), a free loopback port too")
	cmd.Flags().StringVar(&federation, "federation", "demo", "federation id")
	cmd.Flags().StringVar(&trustList, "trust-list", "", "the federation's first trust list, to pin")
	cmd.Flags().StringVar(&trustSum, "trust-list-sha256", "", "its SHA-256, from the operators (required with --trust-list)")
	cmd.Flags().StringVar(&admin, "admin", daemon.DefaultAdmin, "name of the first admin account, whose token init prints")
	_ = cmd.MarkFlagRequired("province")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("data")
	return cmd
}

// initMetricsListen is the metrics_listen init writes: the flag's value
// when given, else config.DefaultMetricsListen, or a free loopback port
// when --listen asks for a free port (a test, a second demo node), which
// a fixed metrics port would make collide.
func initMetricsListen(flag, listen string, given bool) string {
	if given {
		return flag
	}
	if _, port, err := net.SplitHostPort(listen); err == nil && port == "0" {
		return "127.0.0.1:0"
	}
	return config.DefaultMetricsListen
}

// initMetricsWhere says where the node will serve /metrics.
func initMetricsWhere(cfg config.Config) string {
	if cfg.MetricsListen == "" {
		return "/metrics on " + cfg.Listen + ", only with the bearer token in " + cfg.MetricsTokenPath() +
			" (metrics_token_file; Prometheus: authorization: credentials_file)"
	}
	return cfg.MetricsListen + " (metrics_listen) serves /metrics, and " + cfg.Listen + " does not"
}

// checkInitIdentity refuses a blank province name or data directory,
// which init would otherwise write into the config (a name the pages show
// as nothing; a directory called "  ") before anything is created.
// config.Validate checks the rest, and the name's characters.
func checkInitIdentity(name, dataDir string) error {
	var errs []error
	if strings.TrimSpace(name) == "" {
		errs = append(errs, errors.New("--name: give the province's name, such as Guangdong: the wallet, scanner and console pages show it"))
	}
	if strings.TrimSpace(dataDir) == "" {
		errs = append(errs, errors.New("--data: give the directory to create the node in, such as /var/lib/hcnode"))
	}
	return errors.Join(errs...)
}

func writeConfig(path string, cfg config.Config) error {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// pinTrustList checks a trust list given at install: its hash is the one
// the operators published, and it is signed by its own threshold.
func pinTrustList(path, sum string) (*trust.ParsedTrustList, error) {
	if path == "" || sum == "" {
		return nil, fmt.Errorf("--trust-list and --trust-list-sha256 go together")
	}
	sum, err := parsePin("--trust-list-sha256", sum)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := unsignedProposal(path, raw); err != nil {
		return nil, fmt.Errorf("refusing to pin: %w", err)
	}
	p, err := trust.ParseTrustList(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := trust.AcceptTrustList(nil, p, sum, time.Now()); err != nil {
		return nil, fmt.Errorf("refusing to pin %s: %w", path, err)
	}
	return p, nil
}
