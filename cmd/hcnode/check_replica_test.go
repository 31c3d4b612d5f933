package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
)

// TestCheckAsksAVerifierReplicasHomeNode: check on a verifier replica's
// config asks its home node, once, whether it answers at replica.home
// and accepts the token in replica.token_file, and says what to fix when
// not: the token (with 'hcnode replica add'), the URL, the token file. The
// question writes nothing at home: the replica's last_seen stays unset.
func TestCheckAsksAVerifierReplicasHomeNode(t *testing.T) {
	dir, cfgPath, home := initCheckReplica(t)
	out, _ := run(t, "check", "--config", cfgPath)
	requireSaid(t, out, "warn  home node: home accepts this replica's token; the replica makes its keys at its first start: "+
		"then run 'hcnode check' here again and, at home, 'hcnode replica confirm gd-verify-1 FINGERPRINT' (admin)")
	var held struct{ Replicas []node.ReplicaInfo }
	out, err := run(t, "replica", "list")
	if err != nil || json.Unmarshal([]byte(out), &held) != nil || len(held.Replicas) != 1 || !held.Replicas[0].LastSeen.IsZero() {
		t.Fatalf("home's replicas after check: %v\n%s\nwant gd-verify-1, never seen", err, out)
	}

	tok, err := os.ReadFile(filepath.Join(dir, "replica.token"))
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(dir, "wrong.token")
	if err := os.WriteFile(wrong, []byte(strings.TrimSpace(string(tok))+"x"), 0o600); err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name, url, tokenFile string
		want                 []string
	}{
		{"a token home does not know", home.URL, wrong,
			[]string{"refuses this replica's token", "'hcnode replica add NAME'", "replica.token_file (" + wrong + ")"}},
		{"nothing at the URL", closedURL, "replica.token", []string{"the home node at " + closedURL + " did not answer", "check replica.home"}},
		{"a URL that is not a home node's", home.URL + "/nothere", "replica.token",
			[]string{"answered 404 to /v1/replica/status", "set replica.home"}},
		{"no token file", home.URL, "missing.token", []string{"replica.token_file: open ", "'hcnode replica add NAME'"}},
	} {
		editConfig(t, cfgPath, func(b []byte) []byte {
			lines := strings.Split(string(b), "\n")
			for i, l := range lines {
				if v, ok := strings.CutPrefix(l, "  home: "); ok {
					lines[i] = strings.Replace(l, v, tc.url, 1)
				} else if v, ok := strings.CutPrefix(l, "  token_file: "); ok {
					lines[i] = strings.Replace(l, v, tc.tokenFile, 1)
				}
			}
			return []byte(strings.Join(lines, "\n"))
		})
		out, err := run(t, "check", "--config", cfgPath)
		line := failLine(out, "home node")
		for _, w := range tc.want {
			if err == nil || !strings.Contains(line, w) {
				t.Errorf("%s: check said %q (%v), want a FAIL saying %q\n%s", tc.name, line, err, w, out)
			}
		}
	}
}

// TestCheckFailsAVerifierReplicaWhoseHomeIsOfAnotherProvince: check on a
// replica did not compare its province with its home node's: a replica
// of Shanghai pointed at Guangdong's home passed. It FAILs now, naming
// replica.home and both provinces.
func TestCheckFailsAVerifierReplicaWhoseHomeIsOfAnotherProvince(t *testing.T) {
	_, cfgPath, home := initCheckReplica(t)
	editConfig(t, cfgPath, func(b []byte) []byte {
		return []byte(strings.Replace(string(b), `province: "440000"`, `province: "310000"`, 1))
	})
	out, err := run(t, "check", "--config", cfgPath)
	line := failLine(out, "home node")
	want := "replica.home (" + home.URL + ") is the home node of province 440000, and this replica's province is 310000"
	if err == nil || !strings.Contains(line, want) {
		t.Fatalf("check said %q (%v), want a FAIL saying %q\n%s", line, err, want, out)
	}
}
