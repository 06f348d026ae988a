package fs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"bazil.org/fuse"

	"github.com/pointfs/pointfs/meta"
)

// uploader puts the spool content of released files into the engine, on a
// bounded number of workers, never on a FUSE request path. Its queue is a
// set of inodes: a file released twice before its put is put once. Puts
// wait for a pause in the writes (quiet), at most hold: on a machine with
// few cores the upload of a file costs several times the CPU of writing
// it, so putting each file as it is closed slowed down the copy of the
// ones after it.
type uploader struct {
	f       *FS
	workers int
	quiet   time.Duration
	hold    time.Duration
	// lastWrite is when the last request that changes the tree came
	// (unix nanoseconds).
	lastWrite atomic.Int64

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []meta.Inode
	queued   map[meta.Inode]time.Time // when each queued inode was queued
	failures map[meta.Inode]int
	running  int
	started  bool
	closed   bool
	// draining is closed when the FS closes: puts no longer wait for a
	// pause (drain).
	draining chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newUploader(f *FS, workers int, quiet, hold time.Duration) *uploader {
	ctx, cancel := context.WithCancel(context.Background())
	u := &uploader{f: f, workers: workers, quiet: quiet, hold: hold,
		queued: make(map[meta.Inode]time.Time), failures: make(map[meta.Inode]int),
		draining: make(chan struct{}), ctx: ctx, cancel: cancel}
	u.cond = sync.NewCond(&u.mu)
	return u
}

// enqueue asks for a put of ino's spool content; it never blocks.
func (u *uploader) enqueue(ino meta.Inode) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	if _, ok := u.queued[ino]; ok {
		return
	}
	u.queued[ino] = time.Now()
	u.queue = append(u.queue, ino)
	u.cond.Signal()
}

// wrote notes a request that changes the tree: puts wait for a pause.
func (u *uploader) wrote() { u.lastWrite.Store(time.Now().UnixNano()) }

// changesTree reports whether req is one of the requests a writer sends,
// as opposed to lookups, reads, attribute reads (status polls send those)
// and the flush and release of a read-only descriptor (every reader's
// close sends them).
func changesTree(req fuse.Request) bool {
	switch r := req.(type) {
	case *fuse.CreateRequest, *fuse.WriteRequest, *fuse.MkdirRequest, *fuse.MknodRequest,
		*fuse.SymlinkRequest, *fuse.LinkRequest, *fuse.RenameRequest, *fuse.RemoveRequest,
		*fuse.SetattrRequest, *fuse.FsyncRequest, *fuse.SetxattrRequest, *fuse.RemovexattrRequest:
		return true
	case *fuse.ReleaseRequest:
		return !r.Dir && !r.Flags.IsReadOnly()
	}
	return false
}

// wait returns once the oldest queued put may start: no write for
// u.quiet, or queued u.hold ago. It returns false when the uploader
// stops first.
func (u *uploader) wait() bool {
	for {
		u.mu.Lock()
		for len(u.queue) == 0 && !u.closed {
			u.cond.Wait()
		}
		if u.closed {
			u.mu.Unlock()
			return false
		}
		oldest := u.queued[u.queue[0]]
		u.mu.Unlock()
		if u.quiet < 0 || u.isDraining() {
			return true
		}
		now := time.Now()
		d := time.Unix(0, u.lastWrite.Load()).Add(u.quiet).Sub(now)
		d = min(d, oldest.Add(u.hold).Sub(now))
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-u.ctx.Done():
			t.Stop()
			return false
		case <-u.draining:
			t.Stop()
		case <-t.C:
		}
	}
}

func (u *uploader) start() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.started || u.closed {
		return
	}
	u.started = true
	for range u.workers {
		u.wg.Add(1)
		go u.worker()
	}
}

// isDraining reports whether the FS is closing (drain): puts go at once.
func (u *uploader) isDraining() bool {
	select {
	case <-u.draining:
		return true
	default:
		return false
	}
}

// drain puts what is queued without waiting for a pause, for at most d,
// then stops. Puts held back for a pause in the writes would otherwise
// be left for the next mount, and run there beside its first reads: an
// unmount right after a copy left most of its files unput (`ls -l` of
// 10,000 files after the remount took 1.8-2.1 s instead of 1.3).
func (u *uploader) drain(d time.Duration) {
	u.mu.Lock()
	started := u.started && !u.closed
	if started && !u.isDraining() {
		close(u.draining)
	}
	u.mu.Unlock()
	deadline := time.Now().Add(d)
	for started && u.busy() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	u.stop()
}

// stop cancels running puts (their nodes stay spooled: the next mount
// puts them) and waits for the workers.
func (u *uploader) stop() {
	u.mu.Lock()
	u.closed = true
	u.cond.Broadcast()
	u.mu.Unlock()
	u.cancel()
	u.wg.Wait()
}

// busy reports how many puts are queued or running.
func (u *uploader) busy() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.queue) + u.running
}

func (u *uploader) worker() {
	defer u.wg.Done()
	for {
		if !u.wait() {
			return
		}
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			return
		}
		if len(u.queue) == 0 { // the other worker took it
			u.mu.Unlock()
			continue
		}
		ino := u.queue[0]
		u.queue = u.queue[1:]
		delete(u.queued, ino)
		u.running++
		u.mu.Unlock()

		err := u.f.putNode(u.ctx, ino)

		u.mu.Lock()
		u.running--
		if err == nil || u.ctx.Err() != nil {
			delete(u.failures, ino)
			u.mu.Unlock()
			continue
		}
		u.failures[ino]++
		delay := min(time.Second<<min(u.failures[ino], 9), 5*time.Minute)
		u.mu.Unlock()
		u.f.log.Warn("put of a written file failed; will retry", "ino", ino, "in", delay, "err", err)
		time.AfterFunc(delay, func() { u.enqueue(ino) })
	}
}

// putPolicy is the policy a put of a node with policy p asks: p's explicit
// values, the engine's defaults for the rest. A node keeps the absolute
// expiry set on it (or on its directory when it was made); content written
// after that date gets the default term of its own, as the versions put
// before keep theirs. The engine refuses a put whose expiry has passed, and
// the directories of a snapshot are put with these policies too: one
// expired directory would stop every snapshot.
func (f *FS) putPolicy(p meta.Policy) meta.Policy {
	if !p.Expires.After(time.Now()) {
		p.Expires = time.Time{}
	}
	return fullPolicy(f.eng.DefaultPolicy(), p)
}

// fullPolicy is node policy p over the defaults d: a node records only
// what was set on it (or its directory when it was made).
func fullPolicy(d, p meta.Policy) meta.Policy {
	if p.Redundancy > 0 {
		d.Redundancy = p.Redundancy
	}
	if !p.Expires.IsZero() {
		d.Expires = p.Expires
	}
	d.Autorenew = p.Autorenew
	return d
}

// putNode puts the spool content of inode ino and makes the node point at
// the new file id, handing back the reference to the previous one.
func (f *FS) putNode(ctx context.Context, ino meta.Inode) error {
	f.mu.Lock()
	n := f.nodes[ino] // a dirty node never leaves the cache
	f.mu.Unlock()
	if n == nil {
		return nil
	}
	n.mu.Lock()
	if !n.dirty || n.writers > 0 || n.putting || n.destroyed || n.m.Nlink == 0 {
		n.mu.Unlock()
		return nil
	}
	v, pv := n.version, n.polVersion
	size := n.m.Size
	pol := f.putPolicy(n.m.Policy)
	name := n.name
	n.putting = true
	n.mu.Unlock()

	id, err := f.putSpool(ctx, ino, size, name, &pol)

	n.mu.Lock()
	n.putting = false
	if errors.Is(err, fs.ErrNotExist) {
		f.lostSpoolLocked(ctx, n)
		n.mu.Unlock()
		return nil
	}
	if err != nil {
		n.mu.Unlock()
		return err
	}
	if n.destroyed || n.m.Nlink == 0 {
		// Gone meanwhile: this version is nobody's.
		n.mu.Unlock()
		f.releaseNow(id)
		return nil
	}
	// Changed meanwhile: the version put is still newer than the node's
	// last one, so the node takes it (a durable fallback), stays spooled,
	// and the newest content is put next.
	changed := n.version != v
	old := n.m.File
	m := n.m
	m.File, m.Spooled = id, changed
	err = f.store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutNode(&m); err != nil {
			return err
		}
		if !old.IsZero() {
			return addRelease(tx, old)
		}
		return nil
	})
	if err != nil {
		n.mu.Unlock()
		f.releaseNow(id)
		return err
	}
	n.m = m
	n.metaDirty = false
	f.tree.changed() // the node points at another file
	requeue := false
	switch {
	case changed:
		requeue = n.writers == 0
	case n.opens == 0:
		n.dirty = false
		if n.spool != nil {
			n.spool.Close()
			n.spool = nil
		}
		f.spool.remove(ino)
		n.local = false
	default:
		n.dirty = false // the spool copy stays while descriptors use it
	}
	polChanged := n.polVersion != pv
	n.mu.Unlock()
	f.rel.kick()
	if requeue {
		f.up.enqueue(ino)
	}
	if polChanged {
		if err := f.applyPolicy(ctx, n); err != nil {
			f.log.Warn("apply policy to the new version", "ino", ino, "err", err)
		}
	}
	return nil
}

// putSpool streams the first size bytes of ino's spool file into the
// engine.
func (f *FS) putSpool(ctx context.Context, ino meta.Inode, size int64, name string, pol *meta.Policy) (meta.ID, error) {
	fd, err := os.Open(f.spool.path(ino))
	if err != nil {
		return meta.ID{}, err
	}
	defer fd.Close()
	return f.eng.Put(ctx, io.NewSectionReader(fd, 0, size), name, pol)
}

// lostSpoolLocked handles a spooled node whose spool file vanished (a
// spool on a tmpfs that did not survive a reboot): it falls back to the
// last version put, if any.
func (f *FS) lostSpoolLocked(ctx context.Context, n *node) {
	m := n.m
	m.Spooled = false
	m.Size = 0 // nothing was ever put: the file is empty
	if !m.File.IsZero() {
		st, err := f.eng.Status(ctx, m.File)
		if err != nil {
			f.log.Error("status of the previous version", "ino", n.ino, "err", err)
			return
		}
		m.Size = st.File.Size
	}
	f.log.Error("the spool file of a written file is missing: its last changes are lost", "ino", n.ino, "previous_version", m.File)
	if err := f.store.Update(ctx, func(tx meta.Tx) error { return tx.PutNode(&m) }); err != nil {
		return
	}
	n.m = m
	n.dirty, n.local = false, false
	if n.spool != nil {
		n.spool.Close()
		n.spool = nil
	}
	f.tree.changed()
}

// releaseNow hands back a reference that no node took.
func (f *FS) releaseNow(id meta.ID) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.eng.Release(ctx, id); err != nil {
		f.log.Warn("release unused file version", "id", id, "err", err)
	}
}

// releaser hands file references back to the engine in the background.
// What is due is a list in the store (written in the same transaction as
// the change that made it due), so a crash does not forget it.
type releaser struct {
	f       *FS
	running atomic.Int32 // drains under way
	kickc   chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

func newReleaser(f *FS) *releaser {
	return &releaser{f: f, kickc: make(chan struct{}, 1), done: make(chan struct{})}
}

func (r *releaser) kick() {
	select {
	case r.kickc <- struct{}{}:
	default:
	}
}

func (r *releaser) start() {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			r.drain(r.f.ctx)
			select {
			case <-r.done:
				return
			case <-r.kickc:
			case <-t.C:
			}
		}
	}()
	r.kick()
}

// releaseHold bounds how long releases wait for a pause in the writes:
// longer than puts do (UploadHold), since nothing is at risk meanwhile,
// only space and payments for files already deleted; `rm -rf` of a
// source tree of 11,500 files takes longer than 5 s through the mount.
const releaseHold = time.Minute

// pause waits, as puts do (uploader.wait), until no request has changed
// the tree for the uploader's quiet time, at most until releaseHold after
// since: a release costs the engine and the providers CPU that a `rm -rf`
// still going on would share. It does not wait once the FS closes.
func (r *releaser) pause(ctx context.Context, since time.Time) {
	u := r.f.up
	for u.quiet >= 0 {
		now := time.Now()
		d := time.Unix(0, u.lastWrite.Load()).Add(u.quiet).Sub(now)
		d = min(d, since.Add(releaseHold).Sub(now))
		if d <= 0 {
			return
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
			continue
		case <-ctx.Done():
		case <-r.done:
		case <-u.draining:
		}
		t.Stop()
		return
	}
}

func (r *releaser) stop() {
	r.once.Do(func() { close(r.done) })
	r.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.drain(ctx)
}

// drain releases everything on the list. Each entry leaves the list just
// before its Release: a crash between the two leaks one reference rather
// than releasing twice.
func (r *releaser) drain(ctx context.Context) {
	r.running.Add(1)
	defer r.running.Add(-1)
	since := time.Now()
	for ctx.Err() == nil {
		var batch []release
		err := r.f.store.View(ctx, func(tx meta.Tx) (err error) {
			batch, err = firstReleases(tx, 64)
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				r.f.log.Warn("read the release list", "err", err)
			}
			return
		}
		if len(batch) == 0 {
			return
		}
		for _, rel := range batch {
			if ctx.Err() != nil {
				return
			}
			r.pause(ctx, since)
			ok := false
			err := r.f.store.Update(ctx, func(tx meta.Tx) (err error) {
				ok, err = dropRelease(tx, rel.key)
				return err
			})
			if err != nil {
				if ctx.Err() == nil {
					r.f.log.Warn("update the release list", "err", err)
				}
				return
			}
			if !ok {
				continue
			}
			if err := r.f.eng.Release(ctx, rel.id); err != nil && !errors.Is(err, meta.ErrNotFound) {
				r.f.log.Warn("release an old file version", "id", rel.id, "err", err)
			}
		}
	}
}
