package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelayStaysWithinFloorAndDoublingCeiling(t *testing.T) {
	p := Policy{Min: 250 * time.Millisecond, Max: 15 * time.Second}
	wantCeil := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second}
	for n, want := range wantCeil {
		if got := p.Ceiling(n); got != want {
			t.Errorf("Ceiling(%d) = %s, want %s", n, got, want)
		}
	}
	for _, n := range []int{0, 1, 3, 6, 7, 40, 63, 64, 1 << 30} {
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for range 2000 {
			d := p.Delay(n)
			if d < p.Min || d > p.Ceiling(n) || d > p.Max {
				t.Fatalf("Delay(%d) = %s, outside [%s, %s]", n, d, p.Min, p.Ceiling(n))
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Full jitter: the draws spread over the range, not one value.
		if span := p.Ceiling(n) - p.Min; span > 0 && hi-lo < span/2 {
			t.Errorf("Delay(%d) drew only [%s, %s] of [%s, %s]", n, lo, hi, p.Min, p.Ceiling(n))
		}
	}
}

func TestDelayWithMaxBelowMinIsMin(t *testing.T) {
	p := Policy{Min: time.Second, Max: time.Millisecond}
	for n := range 5 {
		if d := p.Delay(n); d != time.Second {
			t.Errorf("Delay(%d) = %s, want 1s", n, d)
		}
	}
	if d := (Policy{}).Delay(3); d != 0 {
		t.Errorf("zero policy: Delay = %s, want 0", d)
	}
}

func TestDelayNeverOverflowsForHugeMax(t *testing.T) {
	p := Policy{Min: time.Hour, Max: time.Duration(1<<63 - 1)}
	for _, n := range []int{20, 31, 32, 33, 62, 100} {
		if d := p.Delay(n); d < time.Hour {
			t.Errorf("Delay(%d) = %s, below Min", n, d)
		}
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Wait(ctx, time.Hour) {
		t.Error("Wait reported the hour elapsed on a cancelled context")
	}
	if (Policy{Min: time.Hour, Max: time.Hour}).Sleep(ctx, 0) {
		t.Error("Sleep reported the hour elapsed on a cancelled context")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancelled waits took %s", d)
	}
	if !Wait(context.Background(), time.Millisecond) {
		t.Error("Wait of 1ms on a live context did not elapse")
	}
}
