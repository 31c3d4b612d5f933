package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// TestNodeLogLinesHaveNoDuplicateKeys starts a node with its embedded
// NATS and reads its JSON log once it has connected: no line names a key
// twice. Log stores such as Elasticsearch refuse a document with a
// duplicate field, so a line that says "province" twice is lost there.
func TestNodeLogLinesHaveNoDuplicateKeys(t *testing.T) {
	cfg := config.Default("440000")
	cfg.DataDir = filepath.Join(t.TempDir(), "440000")
	cfg.Listen, cfg.NATS.Listen = "127.0.0.1:0", "127.0.0.1:0"
	logs := &syncBuffer{}
	initAndStart(t, cfg, daemon.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	waitFor(t, "the node's 'nats connected' log line", func() error {
		if !strings.Contains(logs.String(), `"msg":"nats connected"`) {
			return errors.New("not yet")
		}
		return nil
	})
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if k := duplicateKey(t, line); k != "" {
			t.Errorf("key %q twice in %s", k, line)
		}
	}
}

// duplicateKey returns a top-level key the JSON object line names twice,
// or "".
func duplicateKey(t *testing.T, line string) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(line)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("log line is not a JSON object: %s (%v)", line, err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		k := fmt.Sprint(tok)
		if seen[k] {
			return k
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("log line %s: %v", line, err)
		}
	}
	return ""
}

// initAndStart initialises cfg's node and starts it as 'hcnode serve'
// does, with opts and HTTP on a loopback port of its own, closed when the
// test ends.
func initAndStart(t *testing.T, cfg config.Config, opts daemon.Options) *daemon.Daemon {
	t.Helper()
	ctx := context.Background()
	if _, err := daemon.Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Listener = l
	d, err := daemon.Start(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
