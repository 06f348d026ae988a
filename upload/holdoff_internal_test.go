package upload

import (
	"testing"
	"time"
)

// heldFor against a writer that began at t0 and never paused: held for
// HoldMax, then a run of HoldRun in every HoldMax; once the writes pause
// for HoldQuiet, nothing is held.
func TestHeldForRunsAfterHoldMax(t *testing.T) {
	e := &Engine{cfg: Config{HoldQuiet: 200 * time.Millisecond, HoldMax: 5 * time.Second, HoldRun: time.Second}}
	t0 := time.Unix(1_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	if got := e.heldFor(t0); got != 0 {
		t.Fatalf("never called: held for %v", got)
	}
	// The writer called at t0 (after a pause) and calls again just before
	// each check.
	e.hold.since.Store(t0.UnixNano())
	for _, c := range []struct {
		now, want time.Duration
	}{
		{0, 200 * time.Millisecond},                                                 // quiet ends first
		{4900 * time.Millisecond, 100 * time.Millisecond},                           // HoldMax ends first
		{5 * time.Second, 0},                                                        // first run
		{5999 * time.Millisecond, 0},                                                // still in it
		{6 * time.Second, 200 * time.Millisecond},                                   // held again: until the writes pause...
		{9900 * time.Millisecond, 100 * time.Millisecond},                           // ...or the next run
		{10 * time.Second, 0},                                                       // second run
		{10*time.Second + 500*time.Millisecond, 0},                                  // in it
		{time.Hour + 5*time.Second + 1500*time.Millisecond, 200 * time.Millisecond}, // much later, between runs
	} {
		e.hold.last.Store(at(c.now).UnixNano())
		if got := e.heldFor(at(c.now)); got != c.want {
			t.Errorf("%v after the first call: held for %v, want %v", c.now, got, c.want)
		}
	}
	// A pause of HoldQuiet ends the hold at once.
	e.hold.last.Store(at(7 * time.Second).UnixNano())
	if got := e.heldFor(at(7*time.Second + 200*time.Millisecond)); got != 0 {
		t.Errorf("after a pause: held for %v", got)
	}
}

// A HoldRun of HoldMax is the old bound: nothing held past HoldMax.
func TestHoldRunOfHoldMax(t *testing.T) {
	e := &Engine{cfg: Config{HoldQuiet: time.Hour, HoldMax: time.Second, HoldRun: time.Second}}
	t0 := time.Unix(1_000_000, 0)
	e.hold.since.Store(t0.UnixNano())
	e.hold.last.Store(t0.Add(time.Minute).UnixNano())
	for d := time.Second; d < 10*time.Second; d += 300 * time.Millisecond {
		if got := e.heldFor(t0.Add(d)); got != 0 {
			t.Fatalf("HoldRun = HoldMax, %v in: held for %v", d, got)
		}
	}
}
