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
	ctx := context.Background()
	if _, err := daemon.Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	d, err := daemon.Start(ctx, cfg, daemon.Options{Listener: l, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
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
