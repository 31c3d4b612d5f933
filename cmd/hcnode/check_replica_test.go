package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// TestCheckAsksAVerifierReplicasHomeNode: check on a verifier replica's
// config asks its home node, once, whether it answers at replica.home
// and accepts the token in replica.token_file, and says what to fix when
// not: the token (with 'hcnode replica add'), the URL, the token file. The
// question writes nothing at home: the replica's last_seen stays unset.
func TestCheckAsksAVerifierReplicasHomeNode(t *testing.T) {
	home := startTestNode(t)
	useNode(t, home)
	out, err := run(t, "replica", "add", "gd-verify-1")
	var added node.NewReplica
	if err != nil || json.Unmarshal([]byte(out), &added) != nil || added.Token == "" {
		t.Fatalf("replica add: %v\n%s", err, out)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "replica.token")
	if err := os.WriteFile(tokenFile, []byte(added.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String()
	closed.Close()

	check := func(homeURL, tokenFile string) string {
		t.Helper()
		cfgPath := filepath.Join(dir, "replica.yaml")
		yaml := fmt.Sprintf("province: \"440000\"\nrole: verifier\ndata_dir: %s\nlisten: 127.0.0.1:0\n"+
			"nats:\n  embedded: false\n  urls: [\"nats://127.0.0.1:1\"]\n"+
			"replica:\n  home: %s\n  token_file: %s\n", filepath.Join(dir, "data"), homeURL, tokenFile)
		if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(cfgPath); err != nil {
			t.Fatalf("the test's replica config: %v", err)
		}
		out, _ := run(t, "check", "--config", cfgPath) // its NATS is out of reach: it FAILs all the same
		return out
	}

	out = check(home.URL, tokenFile)
	requireSaid(t, out, "ok    home node: "+home.URL+" answers and accepts this replica's token\n")
	var held struct{ Replicas []node.ReplicaInfo }
	out, err = run(t, "replica", "list")
	if err != nil || json.Unmarshal([]byte(out), &held) != nil || len(held.Replicas) != 1 || !held.Replicas[0].LastSeen.IsZero() {
		t.Fatalf("home's replicas after check: %v\n%s\nwant gd-verify-1, never seen", err, out)
	}

	wrong := filepath.Join(dir, "wrong.token")
	if err := os.WriteFile(wrong, []byte(strings.TrimSuffix(added.Token, added.Token[len(added.Token)-4:])+"AAAA"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url, tokenFile string
		want                 []string
	}{
		{"a token home does not know", home.URL, wrong,
			[]string{"refuses this replica's token", "'hcnode replica add NAME'", "replica.token_file (" + wrong + ")"}},
		{"nothing at the URL", closedURL, tokenFile, []string{"the home node at " + closedURL + " did not answer", "check replica.home"}},
		{"a URL that is not a home node's", home.URL + "/nothere", tokenFile,
			[]string{"answered 404 to /v1/replica/records", "set replica.home"}},
		{"no token file", home.URL, filepath.Join(dir, "missing.token"), []string{"replica.token_file: open ", "'hcnode replica add NAME'"}},
	} {
		out := check(tc.url, tc.tokenFile)
		line := failLine(out, "home node")
		for _, w := range tc.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: check said %q, want it to say %q\n%s", tc.name, line, w, out)
			}
		}
	}
}
