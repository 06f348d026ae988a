package fs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/pointfs/pointfs/meta"
)

// Keys of the small named values the tree keeps in the store.
const (
	keyNextInode = "fs/next-inode" // high-water mark of allocated inodes (decimal)
	keyOrphans   = "fs/orphans"    // JSON [ino]: unlinked files still open at the last crash
	keyReleases  = "fs/releases"   // JSON [id]: the release list of earlier releases (releases.go)
)

// inodeBatch is how many inode numbers one store update reserves.
const inodeBatch = 1024

// Config wires a FS.
type Config struct {
	Engine   Engine
	Store    meta.Store
	SpoolDir string // where written files wait for their put; created if missing
	Logger   *slog.Logger
	// UploadWorkers bounds the puts running at once (default 2).
	UploadWorkers int
	// UploadQuiet and UploadHold keep puts (and so the uploads they start)
	// from competing with the writes that are still coming: a released
	// file is put once no request that changes the tree has come for
	// UploadQuiet (default 200 ms), or once it has waited UploadHold
	// (default 5 s), whichever comes first. A negative UploadQuiet puts at
	// once. Without them, `cp -r` of 1000 small files took 6-8 s instead
	// of 1.3 s on two cores, the uploads of the first files taking the CPU
	// from the copy of the rest.
	UploadQuiet, UploadHold time.Duration
	// OnWrite, when set, is called for every request that changes the
	// tree (the writes puts wait to pause for): the engine holds off new
	// uploads while the user writes. It must be cheap.
	OnWrite func()
	// Valid is how long the kernel may cache attributes and entries
	// (default 1 minute). The mount is the only writer of its tree, so
	// every change goes through the kernel and long validity is safe.
	Valid time.Duration
	// ChunkSize estimates chunk counts of files still in the spool
	// (default meta.DefaultChunkSize).
	ChunkSize int
	// ReadOnly serves the tree read-only: every change (create, mkdir,
	// mknod, symlink, link, open for writing, write, setattr, unlink,
	// rmdir, rename, setxattr, removexattr) fails with EROFS, nothing is
	// put and no snapshot is taken; Mount mounts it read-only. Reads and
	// extended attributes work as usual.
	ReadOnly bool
	// PublishRoot, when set, keeps the tree on the network too: after
	// changes the FS stores every directory as a directory chunkinfo
	// (DESIGN §2), waits until they are uploaded and calls PublishRoot
	// with the root directory's id and the next sequence number (the last
	// one published plus one). See snapshot.go. Nil: no snapshots.
	PublishRoot func(ctx context.Context, root meta.ID, seq uint64) error
	// SnapshotDelay is how long the tree must stay unchanged before a
	// snapshot is taken (default 2 s); a snapshot waits at most ten times
	// as long after the first change.
	SnapshotDelay time.Duration
}

// FS is the pointfs file system: a tree of nodes keyed by inode, kept in
// the meta.Store, whose file contents live in the engine (and, while being
// written, in the local spool).
type FS struct {
	cfg   Config
	store meta.Store
	eng   Engine
	log   *slog.Logger
	spool *spool
	up    *uploader
	rel   *releaser
	tree  *snapshotter
	valid time.Duration

	// treeMu serializes changes of the namespace (create, link, unlink,
	// rename...). Lock order: treeMu, then mu, then node locks in inode
	// order. Never take mu while holding a node lock.
	treeMu sync.Mutex

	mu       sync.Mutex
	nodes    map[meta.Inode]*node
	evictGen uint64 // bumped whenever a node leaves nodes
	snaps    map[meta.Inode]*dirSnap
	nextIno  meta.Inode
	inoLimit meta.Inode

	ctx    context.Context // lives until Close; background work uses it
	cancel context.CancelFunc
}

// New opens the tree in cfg.Store (creating the root on first use), takes
// the spool, and recovers what a crash left: unlinked files that were
// still open are dropped, and every spooled file is queued to be put again.
// Call Start to begin background work, Close at the end.
func New(cfg Config) (*FS, error) {
	if cfg.Engine == nil || cfg.Store == nil || cfg.SpoolDir == "" {
		return nil, fmt.Errorf("%w: fs needs an engine, a store and a spool dir", meta.ErrInvalid)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UploadWorkers <= 0 {
		cfg.UploadWorkers = 2
	}
	if cfg.UploadQuiet == 0 {
		cfg.UploadQuiet = 200 * time.Millisecond
	}
	if cfg.UploadHold <= 0 {
		cfg.UploadHold = 5 * time.Second
	}
	if cfg.Valid <= 0 {
		cfg.Valid = time.Minute
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = meta.DefaultChunkSize
	}
	if cfg.SnapshotDelay <= 0 {
		cfg.SnapshotDelay = 2 * time.Second
	}
	sp, err := openSpool(cfg.SpoolDir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &FS{
		cfg:    cfg,
		store:  cfg.Store,
		eng:    cfg.Engine,
		log:    cfg.Logger,
		spool:  sp,
		valid:  cfg.Valid,
		nodes:  make(map[meta.Inode]*node),
		ctx:    ctx,
		cancel: cancel,
	}
	f.up = newUploader(f, cfg.UploadWorkers, cfg.UploadQuiet, cfg.UploadHold)
	f.rel = newReleaser(f)
	f.tree = newSnapshotter(f)
	if err := f.open(ctx); err != nil {
		cancel()
		sp.close()
		return nil, err
	}
	return f, nil
}

func (f *FS) open(ctx context.Context) error {
	now := time.Now()
	err := f.store.Update(ctx, func(tx meta.Tx) error {
		if b, err := tx.Get(keyRestore); err == nil {
			var mark restoreMark
			_ = json.Unmarshal(b, &mark)
			return fmt.Errorf("%w: the restore of tree %s into this store did not finish: run it again", meta.ErrInvalid, mark.Root)
		} else if !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		_, err := tx.Node(meta.RootInode)
		if !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		root := &meta.Node{
			Inode: meta.RootInode, Mode: os.ModeDir | 0o755,
			UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Nlink: 2,
			Atime: now, Mtime: now, Ctime: now,
			Policy: meta.Policy{Autorenew: f.eng.DefaultPolicy().Autorenew},
		}
		return tx.PutNode(root)
	})
	if err != nil {
		return fmt.Errorf("tree root: %w", err)
	}
	err = f.store.View(ctx, func(tx meta.Tx) error {
		b, err := tx.Get(keyNextInode)
		if errors.Is(err, meta.ErrNotFound) {
			f.nextIno, f.inoLimit = meta.RootInode+1, meta.RootInode+1
			return nil
		}
		if err != nil {
			return err
		}
		var v uint64
		if _, err := fmt.Sscan(string(b), &v); err != nil {
			return fmt.Errorf("%w: %s %q", meta.ErrCorrupt, keyNextInode, b)
		}
		f.nextIno, f.inoLimit = meta.Inode(v), meta.Inode(v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("inode counter: %w", err)
	}
	if err := f.tree.load(ctx); err != nil {
		return err
	}
	if err := f.store.Update(ctx, noteReleases); err != nil {
		return fmt.Errorf("release list: %w", err)
	}
	if err := f.recoverOrphans(ctx); err != nil {
		return err
	}
	return f.recoverSpool(ctx)
}

// recoverOrphans drops the files that were unlinked while open when the
// daemon stopped: nothing can open them any more.
func (f *FS) recoverOrphans(ctx context.Context) error {
	var orphans []meta.Inode
	err := f.store.Update(ctx, func(tx meta.Tx) error {
		orphans = orphans[:0]
		if err := getList(tx, keyOrphans, &orphans); err != nil {
			return err
		}
		for _, ino := range orphans {
			n, err := tx.Node(ino)
			if errors.Is(err, meta.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if n.Nlink > 0 {
				continue // linked again (cannot happen today; be safe)
			}
			if !n.File.IsZero() {
				if err := addRelease(tx, n.File); err != nil {
					return err
				}
			}
			if err := tx.DeleteNode(ino); err != nil {
				return err
			}
		}
		return putList(tx, keyOrphans, []meta.Inode{})
	})
	if err != nil {
		return fmt.Errorf("recover unlinked files: %w", err)
	}
	for _, ino := range orphans {
		f.spool.remove(ino)
	}
	return nil
}

// recoverSpool finds every spool file: a node that still says "spooled"
// gets its content put again (its size is the spool file's: the kernel may
// have written more than the last size the node recorded); any other
// spool file is a leftover and goes.
func (f *FS) recoverSpool(ctx context.Context) error {
	inos, err := f.spool.list()
	if err != nil {
		return err
	}
	for _, ino := range inos {
		var m *meta.Node
		err := f.store.View(ctx, func(tx meta.Tx) (err error) {
			m, err = tx.Node(ino)
			return err
		})
		if errors.Is(err, meta.ErrNotFound) || err == nil && (!m.Spooled || m.Nlink == 0 || !m.Mode.IsRegular()) {
			f.spool.remove(ino)
			continue
		}
		if err != nil {
			return fmt.Errorf("recover spooled inode %d: %w", ino, err)
		}
		size, err := f.spool.size(ino)
		if err != nil {
			return err
		}
		if size != m.Size {
			m.Size = size
			if err := f.store.Update(ctx, func(tx meta.Tx) error { return tx.PutNode(m) }); err != nil {
				return err
			}
		}
		n := &node{fs: f, ino: ino, m: *m, local: true, dirty: true}
		f.mu.Lock()
		f.nodes[ino] = n
		f.mu.Unlock()
		f.log.Info("resuming the upload of a spooled file", "ino", ino, "size", size)
		f.up.enqueue(ino)
	}
	return nil
}

// Start begins the background work: puts of released files, the
// hand-back of released file references and, with Config.PublishRoot,
// snapshots of the tree (a first one checks at once that the tree as
// stored is the one published). A read-only FS puts nothing.
func (f *FS) Start() {
	if !f.cfg.ReadOnly {
		f.up.start()
	}
	f.rel.start()
	f.tree.start()
}

// closeDrain bounds how long Close puts the files still queued; what is
// left is put at the next mount.
const closeDrain = 10 * time.Second

// Close stops the background work. When the tree changed since the last
// snapshot published, it first tries a last one, for a few seconds at
// most (the next mount takes it otherwise). Files queued for a put are
// put, for closeDrain at most; puts still running then are cancelled:
// their nodes stay "spooled" and are put again at the next mount, so
// nothing is lost. Call it after Serve has returned.
func (f *FS) Close() error {
	f.tree.stop()
	f.up.drain(closeDrain)
	f.rel.stop()
	f.cancel()
	f.mu.Lock()
	nodes := make([]*node, 0, len(f.nodes))
	for _, n := range f.nodes {
		nodes = append(nodes, n)
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, n := range nodes {
		n.mu.Lock()
		if n.metaDirty && !n.destroyed {
			if err := n.persistLocked(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if n.spool != nil {
			n.spool.Close()
			n.spool = nil
		}
		n.mu.Unlock()
	}
	f.spool.close()
	return errors.Join(errs...)
}

// Root returns the root directory.
func (f *FS) Root() (fusefs.Node, error) {
	return f.getNode(f.ctx, meta.RootInode)
}

// Statfs reports the spool's file system: it is what a writer fills.
func (f *FS) Statfs(ctx context.Context, req *fuse.StatfsRequest, resp *fuse.StatfsResponse) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(f.spool.dir, &st); err != nil {
		return Errno(err)
	}
	resp.Blocks = st.Blocks
	resp.Bfree = st.Bfree
	resp.Bavail = st.Bavail
	resp.Files = 1 << 40
	resp.Ffree = 1<<40 - 1
	resp.Bsize = uint32(st.Bsize)
	resp.Frsize = uint32(st.Frsize)
	resp.Namelen = 255
	return nil
}

// GenerateInode numbers entries that have none (only "..", whose parent
// may not be known); real nodes always carry their own inode.
func (f *FS) GenerateInode(parent uint64, name string) uint64 {
	return fusefs.GenerateDynamicInode(parent, name) | 1<<63
}

// getNode returns the one node object of inode ino, loading it from the
// store the first time. Every Lookup of the same inode returns the same
// pointer (bazil keys its node ids on it).
func (f *FS) getNode(ctx context.Context, ino meta.Inode) (*node, error) {
	for {
		f.mu.Lock()
		if n := f.nodes[ino]; n != nil {
			n.lookedUp = time.Now()
			f.mu.Unlock()
			return n, nil
		}
		gen := f.evictGen
		f.mu.Unlock()
		var m *meta.Node
		err := f.store.View(ctx, func(tx meta.Tx) (err error) {
			m, err = tx.Node(ino)
			return err
		})
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		if n := f.nodes[ino]; n != nil {
			n.lookedUp = time.Now()
			f.mu.Unlock()
			return n, nil
		}
		if gen != f.evictGen {
			// A node left the cache meanwhile: it may have been this
			// one, persisted after our read. Read again.
			f.mu.Unlock()
			continue
		}
		n := f.adoptLocked(ino, m)
		f.mu.Unlock()
		return n, nil
	}
}

// lookupNode returns the node of name in directory dir, reading the entry
// and (if the node is not cached) its record in one transaction.
func (f *FS) lookupNode(ctx context.Context, dir meta.Inode, name string) (*node, error) {
	f.mu.Lock()
	gen := f.evictGen
	f.mu.Unlock()
	var (
		ino meta.Inode
		n   *node
		m   *meta.Node
	)
	err := f.store.View(ctx, func(tx meta.Tx) (err error) {
		if ino, err = tx.Lookup(dir, name); err != nil {
			return err
		}
		f.mu.Lock()
		n = f.nodes[ino]
		f.mu.Unlock()
		if n != nil {
			return nil
		}
		m, err = tx.Node(ino)
		return err
	})
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.nodes[ino]; c != nil {
		c.lookedUp = time.Now()
		return c, nil
	}
	if n != nil || gen != f.evictGen {
		// It left the cache meanwhile (and may have been persisted after
		// our read): load it afresh.
		f.mu.Unlock()
		c, err := f.getNode(ctx, ino)
		f.mu.Lock()
		return c, err
	}
	return f.adoptLocked(ino, m), nil
}

// dirSnap is what a directory listing read: its entries and their
// records. The lookups that follow a listing (ls -l, find, du) are served
// from it without a store round trip, as long as it is provably current:
// the directory's entries did not change since (node.entries), and no node
// left the cache since (FS.evictGen), so any node changed after the
// listing is still cached and found there first.
type dirSnap struct {
	version uint64
	gen     uint64
	taken   time.Time
	ents    map[string]meta.Inode
	recs    map[meta.Inode]*meta.Node
}

// Listings are kept for a short while, a few at a time.
const (
	snapTTL        = 30 * time.Second
	maxSnaps       = 4
	maxSnapEntries = 100000
)

func (f *FS) putSnap(dir meta.Inode, s *dirSnap) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.snaps == nil {
		f.snaps = make(map[meta.Inode]*dirSnap)
	}
	for d, old := range f.snaps {
		if len(f.snaps) >= maxSnaps || time.Since(old.taken) > snapTTL {
			delete(f.snaps, d)
		}
	}
	f.snaps[dir] = s
}

// snapLookup returns the node of name in d from d's last listing, or nil
// when the listing cannot answer.
func (f *FS) snapLookup(d *node, name string) *node {
	d.mu.Lock()
	version := d.entries
	d.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.snaps[d.ino]
	if s == nil || s.version != version || s.gen != f.evictGen || time.Since(s.taken) > snapTTL {
		return nil
	}
	ino, ok := s.ents[name]
	if !ok {
		return nil
	}
	if n := f.nodes[ino]; n != nil {
		n.lookedUp = time.Now()
		return n
	}
	m := s.recs[ino]
	if m == nil {
		return nil
	}
	return f.adoptLocked(ino, m)
}

// adoptLocked caches a node loaded from the store (f.mu held). A record
// that says "spooled" but was not found by the spool scan at mount lost its
// spool file: it is queued, and the put finds the file missing and falls
// back to the last version put (lostSpoolLocked).
func (f *FS) adoptLocked(ino meta.Inode, m *meta.Node) *node {
	n := &node{fs: f, ino: ino, m: *m, lookedUp: time.Now()}
	f.nodes[ino] = n
	if m.Spooled && m.Mode.IsRegular() && m.Nlink > 0 {
		n.dirty = true
		f.up.enqueue(ino)
	}
	return n
}

// forgetNode drops n from the cache when nothing but the kernel's (now
// dropped) reference needed it.
func (f *FS) forgetNode(n *node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nodes[n.ino] != n || n.ino == meta.RootInode {
		return
	}
	// A Lookup that returned n just before the kernel's Forget was
	// processed may still be on its way to bazil; keep recently looked-up
	// nodes so that it does not get a twin.
	if time.Since(n.lookedUp) < 5*time.Second {
		return
	}
	n.mu.Lock()
	idle := n.opens == 0 && !n.dirty && !n.putting && !n.local && !n.metaDirty
	n.mu.Unlock()
	if idle {
		delete(f.nodes, n.ino)
		f.evictGen++
	}
}

func (f *FS) dropNode(n *node) {
	f.mu.Lock()
	if f.nodes[n.ino] == n {
		delete(f.nodes, n.ino)
		f.evictGen++
	}
	f.mu.Unlock()
}

// allocInode returns a fresh inode number; numbers are never reused.
func (f *FS) allocInode(ctx context.Context) (meta.Inode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nextIno >= f.inoLimit {
		limit := f.nextIno + inodeBatch
		err := f.store.Update(ctx, func(tx meta.Tx) error {
			return tx.Put(keyNextInode, []byte(fmt.Sprint(uint64(limit))))
		})
		if err != nil {
			return 0, err
		}
		f.inoLimit = limit
	}
	ino := f.nextIno
	f.nextIno++
	return ino, nil
}

// getList reads the JSON list under key (empty when missing).
func getList[T any](tx meta.Tx, key string, out *[]T) error {
	b, err := tx.Get(key)
	if errors.Is(err, meta.ErrNotFound) || err == nil && len(b) == 0 {
		*out = (*out)[:0]
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: %s: %v", meta.ErrCorrupt, key, err)
	}
	return nil
}

func putList[T any](tx meta.Tx, key string, l []T) error {
	if l == nil {
		l = []T{}
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return tx.Put(key, b)
}

// listAdd appends v to the list under key.
func listAdd[T comparable](tx meta.Tx, key string, v T) error {
	var l []T
	if err := getList(tx, key, &l); err != nil {
		return err
	}
	return putList(tx, key, append(l, v))
}

// listRemove removes one occurrence of v from the list under key.
func listRemove[T comparable](tx meta.Tx, key string, v T) error {
	var l []T
	if err := getList(tx, key, &l); err != nil {
		return err
	}
	for i, x := range l {
		if x == v {
			return putList(tx, key, append(l[:i], l[i+1:]...))
		}
	}
	return nil
}
