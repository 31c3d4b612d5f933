package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/seal"
)

// TestServeOnAnEmptyDataDirectoryFailsAndLeavesItEmpty runs serve, and
// the commands that open the node's database offline, on a data directory
// 'hcnode init' never ran in, with a KEK available from the environment:
// each refuses, names data_dir and 'hcnode init' (a directory that does
// not exist as such), and writes nothing there (no
// database, no lock file), nor creates a directory that was missing.
func TestServeOnAnEmptyDataDirectoryFailsAndLeavesItEmpty(t *testing.T) {
	t.Setenv(seal.EnvKEK, base64.StdEncoding.EncodeToString(seal.NewKeyMaterial()))
	root := t.TempDir()
	type cmdCase struct {
		name   string
		args   []string
		create bool
	}
	var cases []cmdCase
	for _, c := range [][]string{{"serve"}, {"audit", "verify"}, {"sunset"}, {"verify", "not-a-code"}} {
		cases = append(cases, cmdCase{strings.Join(c, "-") + "-empty", c, true}, cmdCase{strings.Join(c, "-") + "-missing", c, false})
	}
	for _, tc := range cases {
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
			out, err := run(t, append(tc.args, "--config", cfgPath)...)
			if err == nil || !strings.Contains(err.Error(), "hcnode init") {
				t.Fatalf("%v on an uninitialised data directory: err %v (output %q), want one naming 'hcnode init'", tc.args, err, out)
			}
			// A mistyped data_dir is named first: init there would make a
			// second node of the province.
			want := "correct data_dir (or $HCNODE_DATA_DIR)"
			if !tc.create {
				want = "data directory " + dir + " does not exist, so it holds no node: check data_dir (or $HCNODE_DATA_DIR"
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v refused with %q, want it to say %q", tc.args, err, want)
			}
			entries, rerr := os.ReadDir(dir)
			switch {
			case !tc.create && !os.IsNotExist(rerr):
				t.Errorf("%v created the missing data directory (%v, %d entries)", tc.args, rerr, len(entries))
			case tc.create && rerr != nil:
				t.Fatal(rerr)
			case len(entries) > 0:
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("%v left %v in the data directory, want it as it was (empty)", tc.args, names)
			}
		})
	}
}
