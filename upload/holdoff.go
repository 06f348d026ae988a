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
// times as long. Links already under way go on.
//
// A writer that never pauses holds new links back for Config.HoldMax;
// after that, new links start in the first Config.HoldRun of every
// HoldMax until the writer pauses: uploads go on, with a bounded share.
// (They used to go on at full speed after HoldMax. Untarring Go's source
// tree, 11,478 files, into a mount on a two-core machine with a local
// five-provider devnet then took 58-72 s, against 21 s with no upload
// beside it; the machine's CPU was the limit, so the tree was uploaded no
// sooner: at 70-83 s either way. With a run of 1 s in 5, tar took 21-27 s
// and the tree was uploaded at 81-96 s.) Where the uplink rather than the
// CPU is the limit, the runs slow uploads down as much while the writer
// goes on; the first pause of HoldQuiet lets them run at full speed.
type holdOff struct {
	last  atomic.Int64 // when HoldOff was last called, unix nanoseconds; 0: never
	since atomic.Int64 // when the calls began, with no pause of HoldQuiet since
}

// HoldOff asks the engine to start no new link until Config.HoldQuiet has
// passed without another call (from Config.HoldMax after the first call
// that followed such a pause, only outside runs of Config.HoldRun). The
// mount calls it for every request that changes its tree; it is cheap.
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
	if !now.Before(quietAt) {
		return 0 // the writes paused
	}
	end := time.Unix(0, e.hold.since.Load()).Add(e.cfg.HoldMax)
	if now.Before(end) {
		return min(quietAt.Sub(now), end.Sub(now))
	}
	// Past HoldMax: a run of HoldRun, then a hold until the next run.
	into := now.Sub(end) % e.cfg.HoldMax
	if into < e.cfg.HoldRun {
		return 0
	}
	return min(quietAt.Sub(now), e.cfg.HoldMax-into)
}
