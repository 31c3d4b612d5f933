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
	gen, err := GenerateServerConfig(members, o)
	if err != nil {
		t.Fatalf("GenerateServerConfig: %v", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(conf, gen.Config, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, s := range gen.Seeds {
		if err := os.WriteFile(filepath.Join(dir, s.File), s.Seed, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f := &accountsFed{s: runServerWith(t, ServerConfig{ConfigFile: conf}), dir: dir, members: members}
	ctx := testCtx(t)
	for _, who := range []string{"", gd, sh, bj} {
		role := RoleAdmin
		if who == "" {
			role = RoleOperator
		}
		if err := f.conn(t, who, role).EnsureStreams(ctx); err != nil {
			t.Fatalf("EnsureStreams as %s %q: %v", role, who, err)
		}
	}
	return f
}

// conn connects as province p ("" for the operators) in role, with the
// seed the generator wrote for that user.
func (f *accountsFed) conn(t testing.TB, p, role string, mods ...func(*ConnConfig)) *Conn {
	t.Helper()
	file := "operator.nk"
	switch role {
	case RoleNode:
		file = p + ".nk"
	case RoleAdmin, RoleVerifier:
		file = p + "-" + role + ".nk"
	}
	return connect(t, f.s, p, append([]func(*ConnConfig){func(c *ConnConfig) {
		c.Isolation, c.Members, c.NKeySeedFile = IsolationAccounts, f.members, filepath.Join(f.dir, file)
	}}, mods...)...)
}

// node connects as province p's node.
func (f *accountsFed) node(t testing.TB, p string) *Conn {
	t.Helper()
	return f.conn(t, p, RoleNode)
}
