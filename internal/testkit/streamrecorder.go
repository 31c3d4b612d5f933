package testkit

import (
	"context"
	"testing"
	"time"
)

// StreamRecorder is federation.StreamRecorder, restated: testkit imports
// none of the project's packages, whose tests import it.
type StreamRecorder interface {
	RevocationStream(ctx context.Context) (time.Time, error)
	SetRevocationStream(ctx context.Context, created time.Time) error
}

// KeepsRevocationStream fails t unless a StreamRecorder keeps the stream
// creation time set through it across a reopening of its database. open
// opens the database afresh and returns a recorder over it and a func
// that closes it.
func KeepsRevocationStream(t testing.TB, open func() (StreamRecorder, func())) {
	t.Helper()
	ctx := context.Background()
	rec, closeDB := open()
	if got, err := rec.RevocationStream(ctx); err != nil || !got.IsZero() {
		t.Fatalf("fresh database: stream %v (%v), want none", got, err)
	}
	created := time.Unix(1_800_000_000, 123_456_789)
	if err := rec.SetRevocationStream(ctx, created); err != nil {
		t.Fatal(err)
	}
	closeDB()
	rec, closeDB = open()
	defer closeDB()
	if got, err := rec.RevocationStream(ctx); err != nil || !got.Equal(created) {
		t.Fatalf("reopened: stream %v (%v), want %v", got, err, created)
	}
}
