package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

func newServeCmd() *cobra.Command {
	var cfgPath string
	var rebootstrap bool
	cmd := &cobra.Command{
		Use:   "serve",
		Args:  cobra.NoArgs,
		Short: "Run a province node until interrupted",
		Long: `serve runs a province node until SIGINT or SIGTERM, then shuts down within a
bound. A second signal exits at once, without finishing the shutdown.

SIGHUP (systemctl reload hcnode) reads the TLS certificate and key and the
metrics token (metrics_token_file) again; a file that fails to load is
logged, and the one in use is kept. Other settings take a restart.

With role: verifier in the config it runs a verify-only replica of the
province's home node (see 'hcnode replica').`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if rebootstrap {
				cfg.Trust.RebootstrapUnsafe = true
			}
			log := newLogger(cmd.ErrOrStderr(), cfg.Log.Level, cfg.Log.Format)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var d interface {
				Reload() error
				Close() error
			}
			if cfg.IsVerifier() {
				d, err = daemon.StartVerifier(ctx, cfg, daemon.Options{Logger: log})
			} else {
				d, err = daemon.Start(ctx, cfg, daemon.Options{Logger: log})
			}
			if err != nil {
				return err
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
		wait:
			for {
				select {
				case <-hup:
					_ = d.Reload() // logged; what failed to load stays as it was
				case <-ctx.Done():
					break wait
				}
			}
			stop()
			force := make(chan os.Signal, 1)
			signal.Notify(force, os.Interrupt, syscall.SIGTERM)
			go func() {
				<-force
				log.Error("second signal: exiting without finishing the shutdown")
				os.Exit(1)
			}()
			log.Info("shutting down")
			began := time.Now()
			if err := d.Close(); err != nil {
				return err
			}
			// The last line of a clean stop, so that staff reading the log
			// (journalctl) tell it from a crash or a kill.
			log.Info("stopped cleanly", "took", time.Since(began).Round(time.Millisecond).String())
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "hcnode.yaml", "the node's config file")
	cmd.Flags().BoolVar(&rebootstrap, "trust-rebootstrap-unsafe", false,
		"DANGEROUS: accept a pinned trust list that does not follow from the held one (the operators' re-bootstrap); audited")
	return cmd
}
