package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
	"golang.org/x/sys/unix"

	"github.com/pointfs/pointfs/meta"
)

// handle is an open regular file. Data lives in its node (handles of one
// node share it); the handle only counts readers and writers.
type handle struct {
	n        *node
	writable bool
}

var (
	_ fusefs.HandleReader     = (*handle)(nil)
	_ fusefs.HandleWriter     = (*handle)(nil)
	_ fusefs.HandleFlusher    = (*handle)(nil)
	_ fusefs.HandleReleaser   = (*handle)(nil)
	_ fusefs.HandleFAllocater = (*handle)(nil)
)

// Read reads from the spool when it holds the newest content, else from
// the engine (its cache, else the providers).
func (h *handle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	buf := resp.Data[:req.Size]
	k, err := h.n.readAt(ctx, buf, req.Offset)
	resp.Data = buf[:k]
	return Errno(err)
}

// Write writes into the spool.
func (h *handle) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	if err := h.n.fs.writable(); err != nil {
		return err
	}
	k, err := h.n.writeAt(ctx, req.Data, req.Offset, req.Flags&fuse.WriteKillSUIDGID != 0)
	resp.Size = k
	return Errno(err)
}

// Flush (each close of a descriptor) records the size and times: once
// close() returned, the data is in the spool and the record says so.
func (h *handle) Flush(ctx context.Context, req *fuse.FlushRequest) error {
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.metaDirty {
		return Errno(n.persistLocked(ctx))
	}
	return nil
}

// Release (the last close of an open file description) queues the put
// when it was the last writer of a changed file.
func (h *handle) Release(ctx context.Context, req *fuse.ReleaseRequest) error {
	h.n.release(ctx, h.writable)
	return nil
}

// FAllocate reserves space in the spool file; without KEEP_SIZE it grows
// the file.
func (h *handle) FAllocate(ctx context.Context, req *fuse.FAllocateRequest) error {
	if err := h.n.fs.writable(); err != nil {
		return err
	}
	if req.Mode&^fuse.FAllocateKeepSize != 0 {
		return fuse.Errno(syscall.EOPNOTSUPP)
	}
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.prepareWriteLocked(ctx, false); err != nil {
		return Errno(err)
	}
	if err := syscall.Fallocate(int(n.spool.Fd()), uint32(req.Mode), int64(req.Offset), int64(req.Length)); err != nil {
		return Errno(err)
	}
	if req.Mode&fuse.FAllocateKeepSize == 0 {
		if end := int64(req.Offset + req.Length); end > n.m.Size {
			n.m.Size = end
			n.version++
			n.metaDirty = true
		}
	}
	return nil
}

func (n *node) readAt(ctx context.Context, p []byte, off int64) (int, error) {
	for attempt := 0; ; attempt++ {
		n.mu.Lock()
		if n.local {
			if err := n.openSpoolLocked(); err != nil {
				n.mu.Unlock()
				return 0, err
			}
			k, err := n.spool.ReadAt(p, off)
			n.mu.Unlock()
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return k, err
		}
		id, size := n.m.File, n.m.Size
		n.mu.Unlock()
		if off >= size {
			return 0, nil
		}
		if id.IsZero() {
			return 0, fmt.Errorf("%w: inode %d has %d bytes but no content", meta.ErrCorrupt, n.ino, size)
		}
		if int64(len(p)) > size-off {
			p = p[:size-off]
		}
		k, err := n.fs.eng.ReadAt(ctx, id, p, off)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		if err != nil && attempt == 0 && errors.Is(err, meta.ErrNotFound) {
			continue // a new version replaced the one we read: read that
		}
		return k, err
	}
}

// openSpoolLocked opens the spool file of a local node if it is closed.
func (n *node) openSpoolLocked() error {
	if n.spool != nil {
		return nil
	}
	f, err := n.fs.spool.open(n.ino)
	if err != nil {
		return err
	}
	n.spool = f
	return nil
}

// prepareWriteLocked makes the spool hold the content (copying it from
// the network unless truncating to zero) and marks the node spooled in the
// store before the first change, so that a crash after close() finds it.
func (n *node) prepareWriteLocked(ctx context.Context, toZero bool) error {
	if !n.local {
		if err := n.copyUpLocked(ctx, toZero); err != nil {
			return err
		}
	}
	if err := n.openSpoolLocked(); err != nil {
		return err
	}
	if !n.dirty {
		m := n.m
		m.Spooled = true
		if !n.destroyed {
			if err := n.fs.store.Update(ctx, func(tx meta.Tx) error { return tx.PutNode(&m) }); err != nil {
				return err
			}
		}
		n.m = m
		n.dirty = true
	}
	return nil
}

// copyUpLocked fills a new spool file with the node's network content.
func (n *node) copyUpLocked(ctx context.Context, toZero bool) error {
	f, err := n.fs.spool.create(n.ino)
	if err != nil {
		return err
	}
	if !toZero && n.m.Size > 0 {
		if !n.m.File.IsZero() {
			err = n.fs.eng.Get(ctx, n.m.File, f)
		}
		if err == nil {
			err = f.Truncate(n.m.Size)
		}
	}
	if err != nil {
		f.Close()
		n.fs.spool.remove(n.ino)
		return err
	}
	if n.spool != nil {
		n.spool.Close()
	}
	n.spool, n.local = f, true
	return nil
}

func (n *node) writeAt(ctx context.Context, p []byte, off int64, kill bool) (int, error) {
	n.mu.Lock()
	if err := n.prepareWriteLocked(ctx, false); err != nil {
		n.mu.Unlock()
		return 0, err
	}
	k, err := n.spool.WriteAt(p, off)
	if k > 0 {
		n.unsent += int64(k)
		if n.unsent >= writebackStep {
			n.unsent = 0
			startWriteback(n.spool)
		}
		if end := off + int64(k); end > n.m.Size {
			n.m.Size = end
		}
		now := time.Now()
		n.m.Mtime, n.m.Ctime = now, now
		if kill {
			killPriv(&n.m)
		}
		n.version++
		n.metaDirty = true
	}
	// A write with no writable handle open (the kernel flushing pages
	// late) still needs a put.
	enqueue := n.writers == 0 && !n.putting && !n.destroyed
	n.mu.Unlock()
	if enqueue {
		n.fs.up.enqueue(n.ino)
	}
	return k, err
}

// truncateLocked sets the content's size.
func (n *node) truncateLocked(ctx context.Context, size int64) error {
	if size == n.m.Size {
		return nil // nothing to copy or put
	}
	if err := n.prepareWriteLocked(ctx, size == 0); err != nil {
		return err
	}
	if err := n.spool.Truncate(size); err != nil {
		return err
	}
	n.m.Size = size
	n.version++
	n.metaDirty = true
	return nil
}

// release ends one open file description of n.
func (n *node) release(ctx context.Context, writable bool) {
	n.mu.Lock()
	n.opens--
	if writable {
		n.writers--
	}
	if n.metaDirty {
		if err := n.persistLocked(ctx); err != nil {
			n.fs.log.Error("record file size and times", "ino", n.ino, "err", err)
		}
	}
	enqueue := n.dirty && n.writers == 0 && !n.putting && !n.destroyed
	destroy := n.opens == 0 && n.m.Nlink == 0 && !n.destroyed
	if n.opens == 0 && n.spool != nil && !destroy {
		n.spool.Close()
		n.spool = nil
	}
	if n.opens == 0 && n.local && !n.dirty && !n.putting && !destroy {
		n.fs.spool.remove(n.ino) // its content is the engine's now
		n.local = false
	}
	n.mu.Unlock()
	if enqueue {
		n.fs.up.enqueue(n.ino)
	}
	if destroy {
		n.fs.destroy(n)
	}
}

// destroy drops a file that was unlinked while open, at its last close.
func (f *FS) destroy(n *node) {
	ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
	defer cancel()
	n.mu.Lock()
	if n.destroyed {
		n.mu.Unlock()
		return
	}
	m := n.m
	err := f.store.Update(ctx, func(tx meta.Tx) error {
		if err := dropInTx(tx, &m); err != nil {
			return err
		}
		return listRemove(tx, keyOrphans, n.ino)
	})
	if err != nil {
		// The orphan list still has it: the next mount drops it.
		f.log.Error("drop unlinked file", "ino", n.ino, "err", err)
	}
	n.afterDropLocked()
	n.mu.Unlock()
	f.dropNode(n)
	f.rel.kick()
}

// writebackStep is how many bytes a spool file takes before their
// writeback to the disk is started.
const writebackStep = 8 << 20

// startWriteback starts writing f's dirty pages to the disk without
// waiting for them. An fsync after a large write then finds most of it on
// the disk already: left to the kernel, the pages of a 1 GiB file sit in
// memory (well under the dirty thresholds of a machine with a few GiB)
// until the fsync writes them all at once, or for 30 s. The spool is the
// copy close() promises to keep, so this also shortens the time a power
// cut could take a closed file. The price: writes that never fsync run
// about a tenth slower while the writeback runs beside them (1 GiB with
// dd: 1073-1171 MB/s without, 922-1055 with; with conv=fdatasync
// 645-717 without, 645-1010 with).
func startWriteback(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		})
	}
}
