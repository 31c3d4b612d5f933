package federation

import (
	"os"
	"path/filepath"
	"testing"
)

// accountsFed is a federation of the fixture's three provinces on an
// embedded server running the configuration GenerateServerConfig wrote,
// with every seed in a file as an operator would hand them out.
type accountsFed struct {
	s       *Server
	dir     string
	members []string
}

// runAccountsServer generates the configuration for gd, sh and bj, starts
// a server with it and creates every account's assets with the admin
// (and operator) credentials.
func runAccountsServer(t testing.TB, opts ...func(*AccountsOptions)) *accountsFed {
	t.Helper()
	members := []string{gd, sh, bj}
	o := AccountsOptions{Federation: testFed}
	for _, m := range opts {
		m(&o)
	}
	_, dir, conf := writeGenerated(t, members, o)
	f := &accountsFed{s: runServerWith(t, ServerConfig{ConfigFile: conf}), dir: dir, members: members}
	if err := SetupAccounts(testCtx(t), SetupConfig{URLs: []string{f.s.ClientURL()}, Federation: testFed,
		Members: members, SeedDir: dir}); err != nil {
		t.Fatalf("SetupAccounts: %v", err)
	}
	return f
}

// conn connects as province p ("" for the operators) in role, with the
// seed the generator wrote for that user.
func (f *accountsFed) conn(t testing.TB, p, role string, mods ...func(*ConnConfig)) *Conn {
	t.Helper()
	file := SeedFile(p, role)
	mods = append([]func(*ConnConfig){func(c *ConnConfig) {
		if role == RoleNode || role == RoleVerifier {
			c.Members = nil // as a node: it only checks that the assets exist
		}
	}}, mods...)
	return connect(t, f.s, p, append([]func(*ConnConfig){func(c *ConnConfig) {
		c.Isolation, c.Members, c.NKeySeedFile = IsolationAccounts, f.members, filepath.Join(f.dir, file)
	}}, mods...)...)
}

// node connects as province p's node.
func (f *accountsFed) node(t testing.TB, p string) *Conn {
	t.Helper()
	return f.conn(t, p, RoleNode)
}

// writeGenerated generates the accounts configuration of members and
// writes it, with every seed, into a new directory, as an operator would
// hand them out; it returns what was generated, the directory and the
// configuration file.
func writeGenerated(t testing.TB, members []string, o AccountsOptions) (gen *GeneratedConfig, dir, conf string) {
	t.Helper()
	gen, err := GenerateServerConfig(members, o)
	if err != nil {
		t.Fatalf("GenerateServerConfig: %v", err)
	}
	dir = t.TempDir()
	conf = filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(conf, gen.Config, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteSeeds(dir, gen, false); err != nil {
		t.Fatal(err)
	}
	return gen, dir, conf
}
