package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures an embedded NATS server.
type ServerConfig struct {
	// Host is the address to listen on; default 127.0.0.1, or the config
	// file's host if it sets one.
	Host string
	// Port is the client port. 0 means the config file's port if it sets
	// one, else a random free port; -1 always means a random free port.
	Port int
	// StoreDir is where JetStream keeps its files, under the node's data
	// directory. Required; it overrides any store_dir in ConfigFile.
	StoreDir string
	// Name is the server name; default chosen by nats-server.
	Name string
	// ConfigFile is an optional nats-server configuration file, for
	// production-like setups: accounts, per-province users and their
	// permissions, TLS, clustering. The fields above override it. Its
	// max_pending is kept; without one the server runs with
	// ServerMaxPending, not nats-server's 64 MB.
	ConfigFile string
	// Logger receives nats-server's own log at info level and above.
	// Nil silences it.
	Logger *slog.Logger
}

// Server is an embedded nats-server with JetStream enabled.
type Server struct {
	ns  *server.Server
	log *slogAdapter
}

// StartServer starts an embedded nats-server and waits until it accepts
// connections. It never installs signal handlers: the embedding process
// owns its signals.
func StartServer(cfg ServerConfig) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("nats server: a JetStream store directory is required")
	}
	opts, err := readServerConfig(cfg.ConfigFile)
	if err != nil {
		return nil, err
	}
	opts.JetStream = true
	opts.StoreDir = cfg.StoreDir
	if opts.MaxPending == 0 {
		opts.MaxPending = ServerMaxPending // a configuration's own wins
	}
	opts.NoSigs = true
	opts.DisableJetStreamBanner = true
	opts.NoLog = false // the adapter decides what to keep
	if cfg.Name != "" {
		opts.ServerName = cfg.Name
	}
	switch {
	case cfg.Host != "":
		opts.Host = cfg.Host
	case opts.Host == "":
		opts.Host = "127.0.0.1"
	}
	switch {
	case cfg.Port == 0 && opts.Port != 0:
		// the config file's port
	case cfg.Port == 0 || cfg.Port == -1:
		opts.Port = server.RANDOM_PORT
	default:
		opts.Port = cfg.Port
	}

	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	log := &slogAdapter{l: cfg.Logger}
	ns.SetLogger(log, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(readyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		if msg := log.fatal(); msg != "" {
			return nil, fmt.Errorf("nats server did not start: %s", msg)
		}
		return nil, fmt.Errorf("nats server not ready for connections after %s", readyTimeout)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, errors.New("nats server started without JetStream")
	}
	return &Server{ns: ns, log: log}, nil
}

// CheckServerConfig reads a nats-server configuration file as
// StartServer does, and refuses it in the same words, starting nothing:
// a preflight ('hcnode check') of the embedded server's configuration.
func CheckServerConfig(file string) error {
	_, err := readServerConfig(file)
	return err
}

// readServerConfig reads the configuration file (none: the defaults) and
// refuses empty passwords.
func readServerConfig(file string) (*server.Options, error) {
	opts := &server.Options{}
	if file != "" {
		if err := opts.ProcessConfigFile(file); err != nil {
			return nil, fmt.Errorf("nats server: config %s: %w", file, err)
		}
	}
	if err := refuseEmptyPasswords(opts); err != nil {
		return nil, err
	}
	return opts, nil
}

// refuseEmptyPasswords refuses a configuration in which a password user
// has an empty password. nats-server accepts such a user with any or no
// password, and a config file that reads its passwords from environment
// variables gets an empty one from a variable that is set but empty.
// Users mapped from TLS client certificates have no password by design.
func refuseEmptyPasswords(opts *server.Options) error {
	if opts.TLSMap {
		return nil
	}
	for _, u := range opts.Users {
		if u.Password == "" {
			return fmt.Errorf("nats server: user %q has an empty password (is its environment variable set?)", u.Username)
		}
	}
	if opts.Username != "" && opts.Password == "" {
		return fmt.Errorf("nats server: user %q has an empty password", opts.Username)
	}
	return nil
}

// ClientURL is the URL clients connect to. A server listening on every
// interface is reached through the loopback address.
func (s *Server) ClientURL() string {
	addr, ok := s.ns.Addr().(*net.TCPAddr)
	if !ok {
		return s.ns.ClientURL()
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// slogAdapter turns nats-server's printf logger into slog records. It
// never exits the process (nats-server's own logger does on Fatalf) and
// remembers the last fatal message so StartServer can say why it failed.
type slogAdapter struct {
	l *slog.Logger // nil: discard

	mu        sync.Mutex
	lastFatal string
}

func (a *slogAdapter) logf(level slog.Level, format string, v []any) {
	if a.l == nil || !a.l.Enabled(context.Background(), level) {
		return
	}
	a.l.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats-server")
}

func (a *slogAdapter) fatal() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastFatal
}

// Noticef logs at info level.
func (a *slogAdapter) Noticef(format string, v ...any) { a.logf(slog.LevelInfo, format, v) }

// Warnf logs at warn level.
func (a *slogAdapter) Warnf(format string, v ...any) { a.logf(slog.LevelWarn, format, v) }

// Errorf logs at error level.
func (a *slogAdapter) Errorf(format string, v ...any) { a.logf(slog.LevelError, format, v) }

// Debugf logs at debug level (only called if debug is enabled).
func (a *slogAdapter) Debugf(format string, v ...any) { a.logf(slog.LevelDebug, format, v) }

// Tracef logs at debug level (only called if tracing is enabled).
func (a *slogAdapter) Tracef(format string, v ...any) { a.logf(slog.LevelDebug, format, v) }

// Fatalf logs at error level and remembers the message; it does not exit.
func (a *slogAdapter) Fatalf(format string, v ...any) {
	a.mu.Lock()
	a.lastFatal = fmt.Sprintf(format, v...)
	a.mu.Unlock()
	a.logf(slog.LevelError, format, v)
}
