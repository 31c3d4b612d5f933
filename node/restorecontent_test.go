package node_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// contentKeysSeen records every content key a node held, by id.
type contentKeysSeen map[string][]byte

func (s contentKeysSeen) add(n *node.Node) {
	for _, ck := range n.ContentKeys() {
		s[ck.ID] = ck.Key
	}
}

// reused names the keys n holds under an id of s with other material.
func (s contentKeysSeen) reused(n *node.Node) []string {
	var out []string
	for _, ck := range n.ContentKeys() {
		if k, ok := s[ck.ID]; ok && !bytes.Equal(k, ck.Key) {
			out = append(out, ck.ID)
		}
	}
	return out
}

// compromiseActive marks the node's active signing key compromised,
// which starts new content keys of this epoch and the next.
func compromiseActive(t *testing.T, n *node.Node, p node.Principal) {
	t.Helper()
	keys, err := n.Keys(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.State == string(trust.KeyActive) {
			if err := n.CompromiseKey(context.Background(), p, k.KID); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("no active signing key")
}

// A backup lacks the content keys made after it: those of the epochs
// since, and the generations a suspension or a compromise started. The
// restored node made them again under the same ids ("<province>/<epoch>"
// and ".1", ".2" after it) with other material, and a peer given a key
// under an id it held replaced it: every code issued under the lost key
// answered bad_content at every peer. A restored node now never makes a
// content key under an id the lost database may have used, across epochs
// as within the backup's (where a later rekey would have reused ".1"),
// through the reconciliation and a restart that drop the restore's mark.
func TestARestoredNodeNeverReusesAContentKeyIDForOtherMaterial(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		after time.Duration // from the backup to the keys the restore loses
	}{
		{"two epochs after the backup", 2 * 24 * time.Hour},
		{"the backup's epoch", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// An hour into an epoch, ahead of the restore's own clock.
			day := int64(24 * time.Hour / time.Second)
			clock := &testClock{now: time.Unix((time.Now().Unix()/day+1)*day+3600, 0)}
			cfg := config.Default("440000")
			cfg.DataDir, cfg.Listen, cfg.NATS.Listen = filepath.Join(t.TempDir(), "440000"), "127.0.0.1:0", "127.0.0.1:0"
			if _, err := daemon.Init(ctx, cfg); err != nil {
				t.Fatalf("init: %v", err)
			}
			d := startInitialised(t, cfg, clock.Now)
			backup := filepath.Join(t.TempDir(), "node.db")
			if err := store.Backup(ctx, cfg.DBPath(), backup); err != nil {
				t.Fatal(err)
			}
			lost := contentKeysSeen{}
			lost.add(d.Node)
			clock.Add(tc.after)
			if err := d.Node.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			lost.add(d.Node)
			compromiseActive(t, d.Node, admin(t, d.Node)) // generation .1 of this epoch and the next
			lost.add(d.Node)
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}

			clock.Add(time.Minute)
			if _, err := store.Restore(ctx, backup, "", cfg.DBPath(), "test", store.RestoreOptions{}); err != nil {
				t.Fatal(err)
			}
			d = startInitialised(t, cfg, clock.Now)
			if ids := lost.reused(d.Node); len(ids) > 0 {
				t.Fatalf("the restored node holds content keys %v under ids the lost database used, with other material", ids)
			}
			testkit.WaitFor(t, 15*time.Second, 10*time.Millisecond, "the restored node to reconcile", func() error {
				if _, err := d.DB.GetMeta(ctx, store.Restored); err == nil {
					return fmt.Errorf("still marked restored")
				}
				return nil
			})
			// Reconciled and restarted, the mark is gone; a rekey still
			// starts above every generation the lost database used.
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			d = startInitialised(t, cfg, clock.Now)
			compromiseActive(t, d.Node, admin(t, d.Node))
			if ids := lost.reused(d.Node); len(ids) > 0 {
				t.Fatalf("after the restore, a rekey made content keys %v under ids the lost database used, with other material", ids)
			}
			// Past the epoch after the restore's, keys start at generation
			// 0 again: codes' key ids stay short.
			clock.Add(3 * 24 * time.Hour)
			if err := d.Node.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			epoch := clock.Now().Unix() / int64(cfg.Keys.ContentEpoch/time.Second)
			want := trust.ContentKeyID(cfg.Province, fmt.Sprint(epoch))
			found := false
			for _, ck := range d.Node.ContentKeys() {
				found = found || ck.ID == want
			}
			if !found {
				t.Errorf("three epochs after the restore, no content key %s among %v", want, ids(d.Node.ContentKeys()))
			}
		})
	}
}

func ids(cks []trust.ContentKey) []string {
	out := make([]string, len(cks))
	for i, ck := range cks {
		out[i] = ck.ID
	}
	return out
}
