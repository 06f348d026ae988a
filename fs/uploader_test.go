package fs

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"bazil.org/fuse"

	"github.com/pointfs/pointfs/meta"
)

// What a writer sends holds puts back; what readers and status polls send
// does not.
func TestWhatCountsAsAWrite(t *testing.T) {
	for _, c := range []struct {
		req  fuse.Request
		want bool
	}{
		{&fuse.CreateRequest{}, true},
		{&fuse.WriteRequest{}, true},
		{&fuse.RenameRequest{}, true},
		{&fuse.SetattrRequest{}, true},
		{&fuse.ReleaseRequest{Flags: fuse.OpenWriteOnly}, true},
		{&fuse.ReleaseRequest{Flags: fuse.OpenReadWrite}, true},
		{&fuse.ReleaseRequest{Flags: fuse.OpenReadOnly}, false},
		{&fuse.ReleaseRequest{Dir: true}, false},
		{&fuse.FlushRequest{}, false},
		{&fuse.ReadRequest{}, false},
		{&fuse.LookupRequest{}, false},
		{&fuse.GetattrRequest{}, false},
		{&fuse.GetxattrRequest{}, false},
		{&fuse.ReadRequest{Dir: true}, false},
	} {
		if got := changesTree(c.req); got != c.want {
			t.Errorf("changesTree(%T %+v) = %v, want %v", c.req, c.req, got, c.want)
		}
	}
}

// A put waits while writes keep coming, and starts once they pause.
func TestPutsWaitForAPauseInWrites(t *testing.T) {
	const quiet = time.Second
	u := newUploader(nil, 1, quiet, time.Hour)
	defer u.cancel()
	u.enqueue(1)
	u.wrote()
	first := time.Now()
	stop := make(chan struct{})
	lastWrite := make(chan time.Time, 1)
	go func() {
		last := first
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		end := time.After(500 * time.Millisecond)
		for {
			select {
			case <-tick.C:
				u.wrote()
				last = time.Now()
			case <-end:
				lastWrite <- last
				return
			case <-stop:
				lastWrite <- last
				return
			}
		}
	}()
	if !u.wait() {
		t.Fatal("wait gave up")
	}
	returned := time.Now()
	close(stop)
	last := <-lastWrite
	if returned.Before(last.Add(quiet)) {
		t.Fatalf("the put was let go %v after the last write, before the pause of %v", returned.Sub(last), quiet)
	}
}

// A put waits at most the hold, however long the writes go on.
func TestPutsWaitAtMostTheHold(t *testing.T) {
	const hold = 300 * time.Millisecond
	u := newUploader(nil, 1, time.Hour, hold)
	defer u.cancel()
	u.enqueue(1)
	queued := time.Now()
	u.wrote() // and none ever pauses for an hour
	if !u.wait() {
		t.Fatal("wait gave up")
	}
	if waited := time.Since(queued); waited < hold || waited > hold+10*time.Second {
		t.Fatalf("the put waited %v, want the hold of %v", waited, hold)
	}
}

// A negative quiet puts at once; stopping the uploader ends a wait.
func TestPutsAtOnceOrUntilStopped(t *testing.T) {
	u := newUploader(nil, 1, -1, time.Hour)
	u.enqueue(1)
	u.wrote()
	if !u.wait() {
		t.Fatal("wait gave up")
	}

	u = newUploader(nil, 1, time.Hour, time.Hour)
	u.enqueue(1)
	u.wrote()
	done := make(chan bool)
	go func() { done <- u.wait() }()
	time.Sleep(50 * time.Millisecond)
	u.stop()
	if <-done {
		t.Fatal("wait let a put go after the uploader stopped")
	}
}

// Files held back for a pause in the writes are put when the FS closes,
// not left for the next mount.
func TestCloseDrainsHeldPuts(t *testing.T) {
	w := newWorldWith(t, func(c *Config) { c.UploadQuiet, c.UploadHold = time.Hour, time.Hour })
	w.fs.up.wrote() // as the mount notes every write
	_, h := w.create(w.root, "held")
	w.write(h, 0, []byte("written just before the unmount"))
	w.fs.up.wrote()
	w.close_(h)
	time.Sleep(200 * time.Millisecond)
	if n := w.eng.putsNamed("held"); n != 0 {
		t.Fatalf("put %d times while the writes went on", n)
	}
	w.fs.Close()
	w.fs = nil
	if n := w.eng.putsNamed("held"); n != 1 {
		t.Fatalf("put %d times by Close, want 1", n)
	}
	w.store.Close()
	w.store = nil
	w.open() // a new mount: nothing left to put
	n, err := w.lookup(w.root, "held")
	if err != nil {
		t.Fatal(err)
	}
	if m, dirty, _ := n.state(); dirty || m.Spooled || m.File.IsZero() {
		t.Fatalf("after the remount: dirty=%v %+v", dirty, m)
	}
}

// refCount returns the engine's reference count of file id.
func (e *memEngine) refCount(id meta.ID) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refs[id]
}

// An unlinked file's reference goes back to the engine once the writes
// pause, not while a `rm -rf` is still removing files.
func TestReleasesWaitForAPauseInWrites(t *testing.T) {
	w := newWorldWith(t, func(c *Config) { c.UploadQuiet, c.UploadHold = 150*time.Millisecond, time.Hour })
	a, h := w.create(w.root, "to remove")
	w.write(h, 0, []byte("soon gone"))
	w.close_(h)
	w.settle()
	a.mu.Lock()
	id := a.m.File
	a.mu.Unlock()
	if id.IsZero() || w.eng.refCount(id) != 1 {
		t.Fatalf("file %s with %d references after its put", id, w.eng.refCount(id))
	}

	w.fs.up.wrote()
	if err := w.root.Remove(ctx, &fuse.RemoveRequest{Name: "to remove"}); err != nil {
		t.Fatal(err)
	}
	for range 10 { // more removals coming
		time.Sleep(50 * time.Millisecond)
		w.fs.up.wrote()
		if n := w.eng.refCount(id); n != 1 {
			t.Fatalf("released while the writes went on (%d references)", n)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for w.eng.refCount(id) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("not released once the writes paused")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A release list written as one JSON value (earlier releases) is taken
// over at the next start: each of its references goes back once.
func TestReleaseListOfEarlierReleases(t *testing.T) {
	w := newWorld(t)
	var ids []meta.ID
	for _, name := range []string{"a", "b", "c"} {
		_, h := w.create(w.root, name)
		w.write(h, 0, []byte("content of "+name))
		w.close_(h)
	}
	w.settle()
	for _, name := range []string{"a", "b"} {
		n, err := w.lookup(w.root, name)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.m.File)
	}
	w.fs.Close()
	w.fs = nil
	// As an earlier release left it: a and b dropped from the tree (their
	// records gone), their references on the old list.
	err := w.store.Update(ctx, func(tx meta.Tx) error {
		for _, name := range []string{"a", "b"} {
			ino, err := tx.Lookup(meta.RootInode, name)
			if err != nil {
				return err
			}
			if err := tx.DeleteDirent(meta.RootInode, name); err != nil {
				return err
			}
			if err := tx.DeleteNode(ino); err != nil {
				return err
			}
		}
		return putList(tx, keyReleases, ids)
	})
	if err != nil {
		t.Fatal(err)
	}
	w.store.Close()
	w.store = nil
	w.open()
	w.settle()
	for _, id := range ids {
		if n := w.eng.refCount(id); n != 0 {
			t.Errorf("file %s still has %d references", id, n)
		}
	}
	err = w.store.View(ctx, func(tx meta.Tx) error {
		if _, err := tx.Get(keyReleases); !errors.Is(err, meta.ErrNotFound) {
			return fmt.Errorf("old release list still there: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// releasesPending reports whether the release list has an entry.
func releasesPending(tx meta.Tx) (bool, error) {
	found := false
	err := tx.Scan(keyRelease, func(string, []byte) error { found = true; return errStop })
	if err != nil && !errors.Is(err, errStop) {
		return false, err
	}
	return found, nil
}
