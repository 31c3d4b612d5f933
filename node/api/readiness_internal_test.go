package api

import (
	"testing"
	"time"
)

// A failing check is logged when readiness changes, and again when its
// cause changes (a duration in it, a database's error) at most once each
// readyRelogEvery: a probe every second does not log every second.
func TestReadinessLogsAChangingCauseAtMostOnceAnInterval(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	r := &readiness{now: func() time.Time { return now }}
	steps := []struct {
		what         string
		after        time.Duration
		check, cause string
		want         bool
	}{
		{"ready at the start", 0, "", "", false},
		{"not ready", time.Second, "revocation_outbox", "stuck for 31s", true},
		{"the same cause again", time.Second, "revocation_outbox", "stuck for 31s", false},
		{"its cause changed, within the interval", time.Second, "revocation_outbox", "stuck for 33s", false},
		{"its cause changed, an interval after the last line", readyRelogEvery, "revocation_outbox", "stuck for 93s", true},
		{"the same cause, later", 2 * readyRelogEvery, "revocation_outbox", "stuck for 93s", false},
		{"another check fails", time.Second, "store", "database not reachable", true},
		{"ready again", time.Second, "", "", true},
		{"still ready", time.Second, "", "", false},
	}
	for _, s := range steps {
		now = now.Add(s.after)
		if got := r.toLog(s.check, s.cause); got != s.want {
			t.Errorf("%s: logged %v, want %v", s.what, got, s.want)
		}
	}
}
