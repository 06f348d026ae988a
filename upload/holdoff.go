package upload

import (
	"sync/atomic"
	"time"
)

// Writers first. The mount tells the engine when its user writes
// (HoldOff); until the writes pause, the engine starts no new link, so
// that the uploads queued leave the CPU to the writer: on a machine with
// two cores, uploading a file costs several times the CPU of writing it,
// and a `cp -r` that ran beside the upload of a large file took several
// times as long. Links already under way go on. A writer that never
// pauses holds new links back for at most Config.HoldMax in a row.
type holdOff struct {
	last  atomic.Int64 // when HoldOff was last called, unix nanoseconds; 0: never
	since atomic.Int64 // when the calls began, with no pause of HoldQuiet since
}

// HoldOff asks the engine to start no new link until Config.HoldQuiet has
// passed without another call (at most Config.HoldMax after the first
// call that followed such a pause). The mount calls it for every request
// that changes its tree; it is cheap.
func (e *Engine) HoldOff() {
	now := time.Now().UnixNano()
	if prev := e.hold.last.Swap(now); prev == 0 || time.Duration(now-prev) >= e.cfg.HoldQuiet {
		e.hold.since.Store(now)
	}
}

// heldFor returns how long the engine still holds off starting links at
// now: 0 when it need not.
func (e *Engine) heldFor(now time.Time) time.Duration {
	last := e.hold.last.Load()
	if last == 0 {
		return 0
	}
	quietAt := time.Unix(0, last).Add(e.cfg.HoldQuiet)
	end := time.Unix(0, e.hold.since.Load()).Add(e.cfg.HoldMax)
	return max(0, min(quietAt.Sub(now), end.Sub(now)))
}
