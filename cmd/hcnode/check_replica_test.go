package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/replica"
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

// TestCheckOnAReplicaSaysWhatHomeLastSaidOfItsKeys: check on a replica's
// machine showed its keys' fingerprint alone, and whether home trusts
// them only if home answered the check. It now names each key as home
// lists it (the enc key is the key_id of 'hcnode replica list'), and
// says what the replica last heard from home, kept in replica.db: not
// trusted since when, with the command to run at home; trusted, and when
// home last answered a refresh.
func TestCheckOnAReplicaSaysWhatHomeLastSaidOfItsKeys(t *testing.T) {
	dir, cfgPath, _ := initCheckReplica(t)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	r, db := newCheckReplica(t, cfg)
	defer db.Close()
	fp := r.Fingerprint()
	out, _ := run(t, "check", "--config", cfgPath)
	requireSaid(t, out, "ok    home's answer: none recorded for these keys yet: the replica records what home says of them once it runs\n")

	heard := func(keys string) func(context.Context) error {
		return func(ctx context.Context) error {
			v, ok, err := replica.ReadHomeView(ctx, cfg.ReplicaDBPath())
			if err != nil || !ok || v.Keys != keys {
				return fmt.Errorf("home's answer recorded: %+v %v %v", v, ok, err)
			}
			return nil
		}
	}
	runCheckReplica(t, r, "home's answer is recorded", heard(replica.KeysUnconfirmed))
	var held struct{ Replicas []node.ReplicaInfo }
	if out, err := run(t, "replica", "list"); err != nil || json.Unmarshal([]byte(out), &held) != nil || len(held.Replicas) != 1 {
		t.Fatalf("replica list: %v\n%s", err, out)
	}
	before := snapshot(t, dir)
	out, _ = run(t, "check", "--config", cfgPath)
	requireUnchanged(t, dir, before, "check")
	requireSaid(t, out, "ok    replica keys: fingerprint "+fp+" (enc key "+held.Replicas[0].KeyID+", the key_id 'hcnode replica list' shows at home")
	if !regexp.MustCompile(`(?m)^warn  home's answer: home has not trusted these keys since \S+Z \(under a minute ago\) \(unconfirmed\): ` +
		`it sends replica gd-verify-1 no content key, and the replica refuses every scanner; at home, compare the fingerprint with this ` +
		`one and run 'hcnode replica confirm gd-verify-1 ` + fp + `' \(admin\); home has answered no refresh of this replica's yet$`).MatchString(out) {
		t.Fatalf("check of a replica home has not trusted:\n%s", out)
	}

	confirmCheckReplica(t, fp)
	runCheckReplica(t, r, "ready", r.Ready)
	out = checkPasses(t, cfgPath, "a confirmed replica")
	if !regexp.MustCompile(`(?m)^ok    home's answer: home trusted these keys as replica gd-verify-1 since \S+Z \(under a minute ago\); ` +
		`home last answered a refresh at \S+Z \(under a minute ago, to the minute\)$`).MatchString(out) {
		t.Fatalf("check of a confirmed replica:\n%s", out)
	}
}
