package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/seal"
)

// TestServeOnAnEmptyDataDirectoryFailsAndLeavesItEmpty runs serve on a
// data directory 'hcnode init' never ran in, with a KEK available from the
// environment: it refuses, names 'hcnode init', and writes nothing there
// (no database, no lock file), nor creates a directory that was missing.
func TestServeOnAnEmptyDataDirectoryFailsAndLeavesItEmpty(t *testing.T) {
	t.Setenv(seal.EnvKEK, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	root := t.TempDir()
	for _, tc := range []struct {
		name   string
		create bool
	}{{"empty", true}, {"missing", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(root, tc.name)
			if tc.create {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			cfgPath := filepath.Join(root, tc.name+".yaml")
			cfg := "province: \"440000\"\ndata_dir: " + tc.name + "\nlisten: 127.0.0.1:0\nnats:\n  listen: 127.0.0.1:0\n"
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := run(t, "serve", "--config", cfgPath)
			if err == nil || !strings.Contains(err.Error(), "hcnode init") {
				t.Fatalf("serve on an uninitialised data directory: err %v (output %q), want one naming 'hcnode init'", err, out)
			}
			entries, rerr := os.ReadDir(dir)
			switch {
			case !tc.create && !os.IsNotExist(rerr):
				t.Errorf("serve created the missing data directory (%v, %d entries)", rerr, len(entries))
			case tc.create && rerr != nil:
				t.Fatal(rerr)
			case len(entries) > 0:
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("serve left %v in the data directory, want it as it was (empty)", names)
			}
		})
	}
}
