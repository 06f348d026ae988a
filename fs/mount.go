package fs

import (
	"context"
	"fmt"
	"strings"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// MountOptions are the options every pointfs mount uses (see the traps in
// shared/notes/fuse-with-bazil.md): read-ahead (sequential reads), the
// writeback cache (fast small writes; the kernel owns size and mtime),
// HandleKillPriv (no GETXATTR security.capability per write; we clear
// suid/sgid ourselves), async reads, and kernel permission checks. Mount
// also raises the mount's share of the dirty-page limit (bdi.go).
func MountOptions() []fuse.MountOption {
	return []fuse.MountOption{
		fuse.FSName("pointfs"),
		fuse.Subtype("pointfs"),
		fuse.MaxReadahead(128 << 10),
		fuse.WritebackCache(),
		fuse.HandleKillPriv(),
		fuse.AsyncRead(),
		fuse.DefaultPermissions(),
		fuse.MaxBackground(64),
		fuse.CongestionThreshold(48),
	}
}

// Mounted is a mounted FS being served.
type Mounted struct {
	FS   *FS
	Dir  string
	conn *fuse.Conn
	srv  *fusefs.Server
}

// Mount mounts f on dir (the FUSE INIT handshake included: the mount is
// usable when it returns), read-only when f is (Config.ReadOnly). Serve
// then answers requests until unmounted.
func Mount(dir string, f *FS, extra ...fuse.MountOption) (*Mounted, error) {
	opts := append(MountOptions(), extra...)
	if f.cfg.ReadOnly {
		opts = append(opts, fuse.ReadOnly())
	}
	c, err := fuse.Mount(dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	raiseDirtyLimit(context.Background(), f.log, dir)
	cfg := &fusefs.Config{
		// Ignore FUSE_INTERRUPT: the kernel sends one whenever the calling
		// thread gets any signal (the Go runtime preempts with SIGURG), and
		// answering EINTR to an open or a write that would have finished
		// in microseconds breaks callers that do not retry. Network reads
		// have their own timeouts; a killed caller does not wait anyway.
		// It also notes the writes that puts wait to pause (uploader)
		// and tells the engine (Config.OnWrite); and, as it runs first in
		// each request's goroutine, grows that goroutine's stack
		// (growStack).
		WithContext: func(ctx context.Context, req fuse.Request) context.Context {
			switch req.(type) {
			case *fuse.ReadRequest, *fuse.WriteRequest:
				// The data path: shallow, and many requests a second.
			default:
				growStack(uint64(req.Hdr().ID))
			}
			if changesTree(req) {
				f.up.wrote()
				if f.cfg.OnWrite != nil {
					f.cfg.OnWrite()
				}
			}
			return context.WithoutCancel(ctx)
		},
	}
	if f.log.Enabled(context.Background(), -8) { // slog level below debug: FUSE traffic
		cfg.Debug = func(msg any) { f.log.Log(context.Background(), -8, fmt.Sprint(msg)) }
	}
	return &Mounted{FS: f, Dir: dir, conn: c, srv: fusefs.New(c, cfg)}, nil
}

// requestStack is what growStack makes room for: the deepest requests
// (a create or a setattr persisting its node through badger) run in
// 16-32 KiB of stack.
const requestStack = 24 << 10

// growStack grows the calling goroutine's stack to fit requestStack at
// once. bazil serves every request in a new goroutine, whose small stack
// grew two or three times while the request ran, each time deep in
// badger with many frames to walk and copy: while a tree was untarred
// into the mount, 8.7% of the daemon's CPU went to growing stacks (pprof).
// Grown here, at the top of the request, there is little to copy: 4.8%
// with this function's own cost. n only keeps the compiler from dropping
// the array.
//
//go:noinline
func growStack(n uint64) byte {
	var pad [requestStack]byte
	pad[n%requestStack] = byte(n)
	return pad[(n/2)%requestStack]
}

// Serve answers the kernel until the file system is unmounted (by
// fusermount3 -u, umount or Unmount), then returns. The caller closes the
// FS afterwards.
func (m *Mounted) Serve() error {
	m.FS.Start()
	err := m.srv.Serve(m.FS)
	m.conn.Close()
	if err != nil && !strings.Contains(err.Error(), "closed") {
		return err
	}
	return nil
}

// Unmount asks the kernel to unmount; Serve returns once it has.
func (m *Mounted) Unmount() error { return fuse.Unmount(m.Dir) }
