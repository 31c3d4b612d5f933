package replica

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// The replica kept what home said of its keys in memory only, so
// 'hcnode check' on its machine could not say it. It now keeps it in
// replica.db: home's refusal by its code, and trust, each with when home
// first said so; and when home last answered a refresh, written at most
// once a minute (a replica refreshes every 2 s) and kept across a
// restart.
func TestReplicaRecordsHomesAnswerAndItsLastRefreshOnceAMinute(t *testing.T) {
	var trusted atomic.Bool
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case req.URL.Path == RegisterPath && !trusted.Load():
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"replica_keys_limit","message":"full"}}`))
		case req.URL.Path == RegisterPath:
			_, _ = w.Write([]byte(`{"province":"440000","name":"r1","trusted":true}`))
		case req.URL.Path == SyncPath:
			w.WriteHeader(http.StatusNotModified)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer home.Close()
	r, _ := newTestReplica(t, home.URL, time.Second)
	t0 := time.Date(2027, 3, 1, 8, 0, 0, 0, time.UTC)
	now := t0
	r.now = func() time.Time { return now }
	ctx := context.Background()
	held := func() (v HomeView) { // as replica.db holds it
		t.Helper()
		raw, err := r.db.Meta(ctx, HomeViewMeta)
		if err == nil {
			err = json.Unmarshal(raw, &v)
		}
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	refresh := func(at time.Time, registered bool) {
		t.Helper()
		now = at
		_ = r.refresh(ctx, &registered)
	}

	refresh(t0, false)
	if v := held(); v.Keys != "replica_keys_limit" || !v.Said.Equal(t0) || v.Fingerprint != r.fp || !v.Refreshed.IsZero() {
		t.Fatalf("after home's refusal: %+v", v)
	}
	trusted.Store(true)
	refresh(t0.Add(time.Second), false)
	if v := held(); v.Keys != KeysTrusted || v.Name != "r1" || !v.Said.Equal(t0.Add(time.Second)) || !v.Refreshed.Equal(t0.Add(time.Second)) {
		t.Fatalf("once trusted: %+v", v)
	}
	refresh(t0.Add(30*time.Second), true)
	if v := held(); !v.Refreshed.Equal(t0.Add(time.Second)) || !v.Said.Equal(t0.Add(time.Second)) {
		t.Fatalf("a refresh within the minute was written: %+v", v)
	}
	refresh(t0.Add(61*time.Second), true)
	if v := held(); !v.Refreshed.Equal(t0.Add(61 * time.Second)) {
		t.Fatalf("a refresh a minute later was not written: %+v", v)
	}
	// A restart reads it back.
	r.view = HomeView{}
	r.loadHomeView(ctx)
	if !r.view.Refreshed.Equal(t0.Add(61*time.Second)) || r.view.Keys != KeysTrusted {
		t.Fatalf("after a restart: %+v", r.view)
	}
}
