package upload_test

import (
	"testing"
	"time"

	"github.com/pointfs/pointfs/upload"
)

// writing calls HoldOff every 20 ms, as a mount does while its user
// writes, until the returned function is called.
func writing(e *upload.Engine) (stop func()) {
	e.HoldOff()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				e.HoldOff()
			}
		}
	}()
	return func() { close(done) }
}

// While the user writes, no upload starts; once the writes pause, the
// file is uploaded.
func TestNoUploadStartsWhileTheUserWrites(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	c := openClient(t, t.TempDir(), servers, func(cfg *upload.Config) {
		cfg.HoldQuiet, cfg.HoldMax = 300*time.Millisecond, time.Hour
	})
	stop := writing(c.engine)
	id := putBytes(t, c.engine, randomBytes(t, 1<<20), nil)
	time.Sleep(1500 * time.Millisecond) // several ticks, and kicks
	n := len(fileLinks(t, c.db, id))
	stop()
	if n != 0 {
		t.Fatalf("%d links made while the user was writing", n)
	}
	waitUploaded(t, c.engine, id, time.Minute)
	checkDurable(t, c.engine, id, 3, nil)
}

// A user who never pauses holds uploads back for HoldMax, no longer.
func TestHoldingOffIsBounded(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	c := openClient(t, t.TempDir(), servers, func(cfg *upload.Config) {
		cfg.HoldQuiet, cfg.HoldMax = time.Hour, 500*time.Millisecond
	})
	stop := writing(c.engine)
	defer stop()
	id := putBytes(t, c.engine, randomBytes(t, 1<<20), nil)
	waitUploaded(t, c.engine, id, time.Minute)
}
