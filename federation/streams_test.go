package federation

import (
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestEnsureStreamsTwiceIsFine(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	c := connectReady(t, s, "440000")
	if err := c.EnsureStreams(testCtx(t)); err != nil {
		t.Fatalf("second EnsureStreams: %v", err)
	}
	kv, err := c.js.Stream(testCtx(t), "KV_hcfed_demo")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := kv.CachedInfo().Config; cfg.MaxMsgsPerSubject != bucketHistory || cfg.MaxMsgSize != bucketMaxValueSize || cfg.Storage != jetstream.FileStorage {
		t.Errorf("bucket config %+v", cfg)
	}
	rev, err := c.js.Stream(testCtx(t), "HCFED_demo_REV")
	if err != nil {
		t.Fatal(err)
	}
	cfg := rev.CachedInfo().Config
	if len(cfg.Subjects) != 1 || cfg.Subjects[0] != "hcfed.demo.*.revocations" || cfg.MaxAge != streamMaxAge ||
		cfg.Duplicates != streamDuplicates || cfg.Retention != jetstream.LimitsPolicy || cfg.Storage != jetstream.FileStorage {
		t.Errorf("stream config %+v", cfg)
	}
}

func TestEnsureStreamsFromThreeNodesAtOnce(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	provinces := []string{"440000", "310000", "110000"}
	conns := make([]*Conn, len(provinces))
	for i, p := range provinces {
		conns[i] = connect(t, s, p)
	}
	ctx := testCtx(t)
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { errs[i] = c.EnsureStreams(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("EnsureStreams from %s: %v", provinces[i], err)
		}
	}
	for _, c := range conns {
		if _, err := c.PutState(ctx, c.Province()+".keyset", []byte("k")); err != nil {
			t.Errorf("PutState from %s: %v", c.Province(), err)
		}
	}
}

func TestEnsureStreamsRepairsDrift(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	c := connectReady(t, s, "")
	ctx := testCtx(t)
	cfg := c.streamConfig()
	cfg.MaxAge = 0
	cfg.Duplicates = 0
	if _, err := c.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("drifting the stream: %v", err)
	}
	if err := c.EnsureStreams(ctx); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	rev, err := c.js.Stream(ctx, "HCFED_demo_REV")
	if err != nil {
		t.Fatal(err)
	}
	if got := rev.CachedInfo().Config; got.MaxAge != streamMaxAge || got.Duplicates != streamDuplicates {
		t.Fatalf("after repair: max age %s, duplicates %s", got.MaxAge, got.Duplicates)
	}
}
