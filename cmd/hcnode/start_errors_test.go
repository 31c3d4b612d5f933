package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/seal"
)

// TestServeRefusalsSayWhatIsWrongAndWhatToDo: what provincial staff get
// wrong at a start (another data directory's KEK, a port another program
// holds, a pinned trust list file missing or corrupt) stops serve with a
// sentence naming the fault and what to do, and changes nothing: the
// node's audit log is intact afterwards. Before, these said "key … does
// not open with this KEK: seal: ciphertext does not open", "listen …:
// bind: address already in use", "trust.list_file: open …" and
// "trust.list_file: malformed: trust list: invalid character …".
func TestServeRefusalsSayWhatIsWrongAndWhatToDo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gd")
	if out, err := run(t, "init", "--province", "440000", "--name", "Guangdong", "--data", dir, "--listen", "127.0.0.1:0"); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(dir, "hcnode.yaml")
	t.Setenv("HCNODE_NATS_URLS", "nats://127.0.0.1:1") // never the embedded server's fixed port

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	corrupt := filepath.Join(t.TempDir(), "trustlist.json")
	if err := os.WriteFile(corrupt, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("{garbage"))
	garbageSum := hex.EncodeToString(sum[:])

	for name, tc := range map[string]struct {
		env  map[string]string
		want []string
	}{
		"another KEK": {env: map[string]string{seal.EnvKEK: base64.StdEncoding.EncodeToString(seal.NewKeyMaterial())},
			want: []string{"is not the KEK this data directory was initialised with", "$HCNODE_KEK wins over kek_file",
				"give the node its own KEK", "Nothing was changed"}},
		"port in use": {env: map[string]string{"HCNODE_LISTEN": busy.Addr().String()},
			want: []string{busy.Addr().String(), "already in use by another program", "set listen (HCNODE_LISTEN) to a free port"}},
		"trust list missing": {env: map[string]string{"HCNODE_TRUST_LIST_FILE": corrupt + ".missing", "HCNODE_TRUST_LIST_SHA256": garbageSum},
			want: []string{"trustlist.json.missing cannot be read", "put the trust list the federation operators gave you there"}},
		"trust list corrupt": {env: map[string]string{"HCNODE_TRUST_LIST_FILE": corrupt, "HCNODE_TRUST_LIST_SHA256": garbageSum},
			want: []string{"trustlist.json is refused (malformed", "ask the federation operators for the trust list in force",
				"hcnode trust verify FILE"}},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, err := run(t, "serve", "--config", cfgPath)
			if err == nil {
				t.Fatalf("serve started: %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("serve refused with %q\nwant it to say %q", err, w)
				}
			}
		})
	}
	if out, err := run(t, "audit", "verify", "--config", cfgPath); err != nil || !strings.Contains(out, "audit log intact") {
		t.Fatalf("after the refused starts: audit verify %v %q", err, out)
	}
}
