package fs

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/pointfs/pointfs/meta"
)

// node is one inode of the tree: a file, directory, symlink, FIFO or
// socket. There is one node object per inode (FS.getNode), so a file that
// is open and then unlinked or renamed over keeps working through it.
type node struct {
	fs  *FS
	ino meta.Inode

	lookedUp time.Time // guarded by fs.mu

	mu     sync.Mutex
	m      meta.Node  // the record, as persisted (plus metaDirty changes)
	name   string     // the last name it was seen under (for listings)
	parent meta.Inode // the last directory it was seen in (for "..")

	opens   int      // open file handles
	writers int      // open writable handles
	spool   *os.File // the spool file, open while handles are
	// unsent counts bytes written to the spool since its writeback was
	// last started (see startWriteback).
	unsent int64
	// local: the spool file holds the whole content, at least as new as
	// m.File (reads come from it).
	local bool
	// dirty: the spool content is newer than m.File; m.Spooled is true in
	// the store. A put is due once no writer holds the file.
	dirty      bool
	putting    bool   // a put of the spool content runs
	version    uint64 // bumps on every content change
	polVersion uint64 // bumps on every policy change
	metaDirty  bool   // m has changes (size, times) not yet persisted
	entries    uint64 // a directory's entry changes (see dirSnap)
	destroyed  bool   // the record is gone; only open handles remain
}

var (
	_ fusefs.Node                = (*node)(nil)
	_ fusefs.NodeGetattrer       = (*node)(nil)
	_ fusefs.NodeSetattrer       = (*node)(nil)
	_ fusefs.NodeRequestLookuper = (*node)(nil)
	_ fusefs.HandleReadDirAller  = (*node)(nil)
	_ fusefs.NodeMkdirer         = (*node)(nil)
	_ fusefs.NodeCreater         = (*node)(nil)
	_ fusefs.NodeMknoder         = (*node)(nil)
	_ fusefs.NodeRemover         = (*node)(nil)
	_ fusefs.NodeRenamer         = (*node)(nil)
	_ fusefs.NodeLinker          = (*node)(nil)
	_ fusefs.NodeSymlinker       = (*node)(nil)
	_ fusefs.NodeReadlinker      = (*node)(nil)
	_ fusefs.NodeOpener          = (*node)(nil)
	_ fusefs.NodeFsyncer         = (*node)(nil)
	_ fusefs.NodeForgetter       = (*node)(nil)
	_ fusefs.NodeGetxattrer      = (*node)(nil)
	_ fusefs.NodeListxattrer     = (*node)(nil)
	_ fusefs.NodeSetxattrer      = (*node)(nil)
	_ fusefs.NodeRemovexattrer   = (*node)(nil)
)

// modeBits are the bits of a mode that chmod sets.
const modeBits = os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky

func (n *node) isDir() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m.Mode.IsDir()
}

// fillAttrLocked writes the node's attributes for the kernel.
func (n *node) fillAttrLocked(a *fuse.Attr) {
	m := &n.m
	a.Valid = n.fs.valid
	a.Inode = uint64(n.ino)
	a.Size = uint64(m.Size)
	if m.Mode.IsDir() && a.Size == 0 {
		a.Size = 4096
	}
	a.Blocks = (a.Size + 511) / 512
	a.Atime, a.Mtime, a.Ctime = m.Atime, m.Mtime, m.Ctime
	a.Mode = m.Mode
	a.Nlink = m.Nlink
	a.Uid, a.Gid = m.UID, m.GID
	a.BlockSize = 128 << 10
}

// Attr serves stat from the cached record: no store round trip.
func (n *node) Attr(ctx context.Context, a *fuse.Attr) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fillAttrLocked(a)
	return nil
}

// Getattr answers from the node, also when the request names a handle:
// handles share their node, which outlives its last name.
func (n *node) Getattr(ctx context.Context, req *fuse.GetattrRequest, resp *fuse.GetattrResponse) error {
	return n.Attr(ctx, &resp.Attr)
}

// persistLocked writes n.m to the store.
func (n *node) persistLocked(ctx context.Context) error {
	if n.destroyed {
		n.metaDirty = false
		return nil
	}
	m := n.m
	if err := n.fs.store.Update(ctx, func(tx meta.Tx) error { return tx.PutNode(&m) }); err != nil {
		return err
	}
	n.metaDirty = false
	return nil
}

// killPriv clears set-user-id, and set-group-id when the group may
// execute, as the kernel does on write, truncate and chown by an
// unprivileged caller (we are asked to do it: HandleKillPriv).
func killPriv(m *meta.Node) {
	m.Mode &^= os.ModeSetuid
	if m.Mode&0o010 != 0 {
		m.Mode &^= os.ModeSetgid
	}
}

// Setattr applies chmod, chown, truncate and utimens.
func (n *node) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	if err := n.fs.writable(); err != nil {
		return err
	}
	n.mu.Lock()
	now := time.Now()
	enqueue := false
	if req.Valid.Size() {
		switch {
		case n.m.Mode.IsDir():
			n.mu.Unlock()
			return fuse.Errno(syscall.EISDIR)
		case !n.m.Mode.IsRegular():
			n.mu.Unlock()
			return fuse.Errno(syscall.EINVAL)
		}
		if err := n.truncateLocked(ctx, int64(req.Size)); err != nil {
			n.mu.Unlock()
			return Errno(err)
		}
		n.m.Mtime, n.m.Ctime = now, now
		if req.Valid.SetattrKillSUIDGID() {
			killPriv(&n.m)
		}
		enqueue = n.writers == 0 && n.dirty && !n.putting
	}
	m := n.m
	if req.Valid.Mode() {
		m.Mode = m.Mode&^modeBits | req.Mode&modeBits
		m.Ctime = now
	}
	if req.Valid.Uid() || req.Valid.Gid() {
		if req.Valid.Uid() {
			m.UID = req.Uid
		}
		if req.Valid.Gid() {
			m.GID = req.Gid
		}
		if !req.Valid.Mode() && !m.Mode.IsDir() {
			killPriv(&m)
		}
		m.Ctime = now
	}
	if req.Valid.AtimeNow() {
		m.Atime = now
	} else if req.Valid.Atime() {
		m.Atime = req.Atime
	}
	if req.Valid.MtimeNow() {
		m.Mtime = now
	} else if req.Valid.Mtime() {
		m.Mtime = req.Mtime
	}
	if req.Valid.SetattrCTime() {
		m.Ctime = req.Ctime
	} else if req.Valid.Atime() || req.Valid.Mtime() || req.Valid.AtimeNow() || req.Valid.MtimeNow() {
		m.Ctime = now
	}
	old := n.m
	n.m = m
	if err := n.persistLocked(ctx); err != nil {
		n.m = old
		n.metaDirty = true
		n.mu.Unlock()
		return Errno(err)
	}
	n.fillAttrLocked(&resp.Attr)
	n.mu.Unlock()
	if req.Valid.Mode() || req.Valid.Mtime() || req.Valid.MtimeNow() || req.Valid.Size() {
		n.fs.tree.changed() // what a snapshot records of the node
	}
	if enqueue {
		n.fs.up.enqueue(n.ino)
	}
	return nil
}

// Readlink returns a symlink's target.
func (n *node) Readlink(ctx context.Context, req *fuse.ReadlinkRequest) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m.Mode&os.ModeSymlink == 0 {
		return "", fuse.Errno(syscall.EINVAL)
	}
	return n.m.Target, nil
}

// Forget lets the node leave the cache once the kernel no longer knows it.
func (n *node) Forget() { n.fs.forgetNode(n) }

// Fsync makes what was written durable on the local disk: the spool file
// and the node record. (Durability on the network is user.point.status.)
func (n *node) Fsync(ctx context.Context, req *fuse.FsyncRequest) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.spool != nil {
		if err := n.spool.Sync(); err != nil {
			return Errno(err)
		}
	}
	if n.metaDirty {
		if err := n.persistLocked(ctx); err != nil {
			return Errno(err)
		}
	}
	if s, ok := n.fs.store.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			return Errno(err)
		}
	}
	return nil
}

// Open opens a directory (the node is its own handle) or a file.
func (n *node) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m.Mode.IsDir() {
		return n, nil
	}
	if !n.m.Mode.IsRegular() {
		return nil, fuse.Errno(syscall.ENXIO)
	}
	if !req.Flags.IsReadOnly() {
		if err := n.fs.writable(); err != nil {
			return nil, err
		}
	}
	h := &handle{n: n, writable: !req.Flags.IsReadOnly()}
	n.opens++
	if h.writable {
		n.writers++
	}
	// The kernel's page cache stays valid across opens: every change of
	// the content goes through this mount.
	resp.Flags |= fuse.OpenKeepCache
	return h, nil
}

// --- directories ---

func checkName(name string) error {
	if len(name) > 255 {
		return fuse.Errno(syscall.ENAMETOOLONG)
	}
	if name == "" || name == "." || name == ".." {
		return fuse.Errno(syscall.EINVAL)
	}
	return nil
}

// Lookup finds name in directory n.
func (n *node) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	if !n.isDir() {
		return nil, fuse.Errno(syscall.ENOTDIR)
	}
	c := n.fs.snapLookup(n, req.Name)
	var err error
	if c == nil {
		c, err = n.fs.lookupNode(ctx, n.ino, req.Name)
	}
	if err != nil {
		return nil, Errno(err)
	}
	c.mu.Lock()
	c.name, c.parent = req.Name, n.ino
	c.mu.Unlock()
	resp.EntryValid = n.fs.valid
	return c, nil
}

// lookupChild returns the inode of name in directory n, 0 if none.
func (n *node) lookupChild(ctx context.Context, name string) (meta.Inode, error) {
	var ino meta.Inode
	err := n.fs.store.View(ctx, func(tx meta.Tx) (err error) {
		ino, err = tx.Lookup(n.ino, name)
		return err
	})
	if errors.Is(err, meta.ErrNotFound) {
		return 0, nil
	}
	return ino, err
}

var errStop = errors.New("stop")

// empty reports whether directory n has no entries.
func (n *node) empty(ctx context.Context) (bool, error) {
	empty := true
	err := n.fs.store.View(ctx, func(tx meta.Tx) error {
		return tx.ReadDir(n.ino, func(string, meta.Inode) error {
			empty = false
			return errStop
		})
	})
	if err != nil && !errors.Is(err, errStop) {
		return false, err
	}
	return empty, nil
}

func direntType(m os.FileMode) fuse.DirentType {
	switch {
	case m.IsDir():
		return fuse.DT_Dir
	case m&os.ModeSymlink != 0:
		return fuse.DT_Link
	case m&os.ModeNamedPipe != 0:
		return fuse.DT_FIFO
	case m&os.ModeSocket != 0:
		return fuse.DT_Socket
	case m.IsRegular():
		return fuse.DT_File
	}
	return fuse.DT_Unknown
}

// ReadDirAll lists a directory, "." and ".." first, then by name.
func (n *node) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	n.mu.Lock()
	parent := n.parent
	if n.ino == meta.RootInode {
		parent = meta.RootInode
	}
	version := n.entries
	n.mu.Unlock()
	f := n.fs
	f.mu.Lock()
	snap := &dirSnap{version: version, gen: f.evictGen, taken: time.Now(),
		ents: make(map[string]meta.Inode), recs: make(map[meta.Inode]*meta.Node)}
	f.mu.Unlock()
	out := []fuse.Dirent{
		{Inode: uint64(n.ino), Type: fuse.DT_Dir, Name: "."},
		{Inode: uint64(parent), Type: fuse.DT_Dir, Name: ".."},
	}
	err := f.store.View(ctx, func(tx meta.Tx) error {
		return tx.ReadDir(n.ino, func(name string, ino meta.Inode) error {
			t := fuse.DT_Unknown
			if c, err := tx.Node(ino); err == nil {
				t = direntType(c.Mode)
				if snap != nil && len(snap.ents) < maxSnapEntries {
					snap.ents[name] = ino
					snap.recs[ino] = c
				} else {
					snap = nil // too big to keep
				}
			}
			out = append(out, fuse.Dirent{Inode: uint64(ino), Type: t, Name: name})
			return nil
		})
	})
	if err != nil {
		return nil, Errno(err)
	}
	if snap != nil {
		f.putSnap(n.ino, snap)
	}
	return out, nil
}

// lockNodes locks distinct nodes in inode order and returns the unlock.
func lockNodes(ns ...*node) func() {
	var l []*node
	for _, n := range ns {
		if n != nil && !slices.Contains(l, n) {
			l = append(l, n)
		}
	}
	slices.SortFunc(l, func(a, b *node) int {
		switch {
		case a.ino < b.ino:
			return -1
		case a.ino > b.ino:
			return 1
		}
		return 0
	})
	for _, n := range l {
		n.mu.Lock()
	}
	return func() {
		for i := len(l) - 1; i >= 0; i-- {
			l[i].mu.Unlock()
		}
	}
}

// inheritLocked returns the policy and group a new child of directory d gets
// (d locked): d's policy, and d's group when d is set-group-id.
func (d *node) inheritLocked(gid uint32) (meta.Policy, uint32, bool) {
	sgid := d.m.Mode&os.ModeSetgid != 0
	if sgid {
		gid = d.m.GID
	}
	return d.m.Policy, gid, sgid
}

// newChild creates a node named name in directory d (treeMu held): a
// directory, a symlink to target, or a regular file with its (empty) spool
// file already open.
func (d *node) newChild(ctx context.Context, h *fuse.Header, name string, mode os.FileMode, target string) (*node, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f := d.fs
	if !d.isDir() {
		return nil, fuse.Errno(syscall.ENOTDIR)
	}
	if ino, err := d.lookupChild(ctx, name); err != nil {
		return nil, Errno(err)
	} else if ino != 0 {
		return nil, fuse.Errno(syscall.EEXIST)
	}
	ino, err := f.allocInode(ctx)
	if err != nil {
		return nil, Errno(err)
	}
	now := time.Now()
	c, err := d.newChildLocked(ctx, h, name, mode, target, ino, now)
	if err != nil {
		return nil, err
	}
	// Not under d's lock: the cache lock comes first (FS.treeMu comment).
	f.mu.Lock()
	c.lookedUp = now
	f.nodes[ino] = c
	f.mu.Unlock()
	return c, nil
}

func (d *node) newChildLocked(ctx context.Context, h *fuse.Header, name string, mode os.FileMode, target string, ino meta.Inode, now time.Time) (*node, error) {
	f := d.fs
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m.Nlink == 0 {
		return nil, fuse.Errno(syscall.ENOENT) // the directory was removed
	}
	pol, gid, sgid := d.inheritLocked(h.Gid)
	m := meta.Node{Inode: ino, Mode: mode, UID: h.Uid, GID: gid, Nlink: 1,
		Atime: now, Mtime: now, Ctime: now, Target: target, Policy: pol}
	c := &node{fs: f, ino: ino, name: name, parent: d.ino}
	pm := d.m
	pm.Mtime, pm.Ctime = now, now
	switch {
	case mode.IsDir():
		m.Nlink = 2
		if sgid {
			m.Mode |= os.ModeSetgid
		}
		pm.Nlink++
	case mode&os.ModeSymlink != 0:
		m.Size = int64(len(target))
	case mode.IsRegular():
		sp, err := f.spool.create(ino)
		if err != nil {
			return nil, Errno(err)
		}
		m.Spooled = true
		c.spool, c.local, c.dirty = sp, true, true
	}
	err := f.store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutNode(&m); err != nil {
			return err
		}
		if err := tx.PutDirent(d.ino, name, ino); err != nil {
			return err
		}
		return tx.PutNode(&pm)
	})
	if err != nil {
		if c.spool != nil {
			c.spool.Close()
			f.spool.remove(ino)
		}
		return nil, Errno(err)
	}
	d.m = pm
	d.entries++
	c.m = m
	f.tree.changed()
	return c, nil
}

// Mkdir makes a directory.
func (d *node) Mkdir(ctx context.Context, req *fuse.MkdirRequest) (fusefs.Node, error) {
	if err := d.fs.writable(); err != nil {
		return nil, err
	}
	d.fs.treeMu.Lock()
	defer d.fs.treeMu.Unlock()
	mode := os.ModeDir | req.Mode&modeBits&^req.Umask
	return d.newChild(ctx, &req.Header, req.Name, mode, "")
}

// Symlink makes a symbolic link.
func (d *node) Symlink(ctx context.Context, req *fuse.SymlinkRequest) (fusefs.Node, error) {
	if err := d.fs.writable(); err != nil {
		return nil, err
	}
	d.fs.treeMu.Lock()
	defer d.fs.treeMu.Unlock()
	return d.newChild(ctx, &req.Header, req.NewName, os.ModeSymlink|0o777, req.Target)
}

// Create makes and opens a regular file. Its (empty) spool file exists from
// the start, so that even a file closed without a write is put.
func (d *node) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	if err := d.fs.writable(); err != nil {
		return nil, nil, err
	}
	d.fs.treeMu.Lock()
	mode := req.Mode & modeBits &^ req.Umask
	c, err := d.newChild(ctx, &req.Header, req.Name, mode, "")
	d.fs.treeMu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	h := &handle{n: c, writable: !req.Flags.IsReadOnly()}
	c.opens++
	if h.writable {
		c.writers++
	}
	c.mu.Unlock()
	resp.Flags |= fuse.OpenKeepCache
	return c, h, nil
}

// Mknod makes regular files, FIFOs and sockets; not devices.
func (d *node) Mknod(ctx context.Context, req *fuse.MknodRequest) (fusefs.Node, error) {
	if err := d.fs.writable(); err != nil {
		return nil, err
	}
	t := req.Mode & os.ModeType
	switch t {
	case 0, os.ModeNamedPipe, os.ModeSocket:
	default:
		return nil, fuse.Errno(syscall.EPERM)
	}
	d.fs.treeMu.Lock()
	c, err := d.newChild(ctx, &req.Header, req.Name, t|req.Mode&modeBits&^req.Umask, "")
	d.fs.treeMu.Unlock()
	if err != nil {
		return nil, err
	}
	if t == 0 {
		c.mu.Lock()
		if c.spool != nil {
			c.spool.Close()
			c.spool = nil
		}
		c.mu.Unlock()
		d.fs.up.enqueue(c.ino) // nobody will release it
	}
	return c, nil
}

// unlinkLocked takes one link away from c (nodes locked, treeMu held),
// changing cm, the copy of c's record that the caller persists. It reports
// whether the record goes now (gone) or stays until the last handle
// closes (orphan).
func (c *node) unlinkLocked(cm *meta.Node, now time.Time) (gone, orphan bool) {
	cm.Ctime = now
	if cm.Mode.IsDir() || cm.Nlink <= 1 {
		cm.Nlink = 0
	} else {
		cm.Nlink--
	}
	if cm.Nlink > 0 {
		return false, false
	}
	if cm.Mode.IsRegular() && c.opens > 0 {
		return false, true
	}
	return true, false
}

// dropInTx writes the removal of cm into tx: its record goes and its
// file reference is handed back (by the releaser).
func dropInTx(tx meta.Tx, cm *meta.Node) error {
	if err := tx.DeleteNode(cm.Inode); err != nil {
		return err
	}
	if cm.Mode.IsRegular() && !cm.File.IsZero() {
		return addRelease(tx, cm.File)
	}
	return nil
}

// afterDropLocked updates the in-memory state of a node whose record went
// (node locked).
func (c *node) afterDropLocked() {
	c.destroyed = true
	c.dirty = false
	c.metaDirty = false
	if c.spool != nil {
		c.spool.Close()
		c.spool = nil
	}
	if c.local {
		c.fs.spool.remove(c.ino)
		c.local = false
	}
}

// Remove unlinks a file or removes an empty directory.
func (d *node) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	f := d.fs
	if err := f.writable(); err != nil {
		return err
	}
	f.treeMu.Lock()
	defer f.treeMu.Unlock()
	ino, err := d.lookupChild(ctx, req.Name)
	if err != nil {
		return Errno(err)
	}
	if ino == 0 {
		return fuse.Errno(syscall.ENOENT)
	}
	c, err := f.getNode(ctx, ino)
	if err != nil {
		return Errno(err)
	}
	isDir := c.isDir()
	switch {
	case req.Dir && !isDir:
		return fuse.Errno(syscall.ENOTDIR)
	case !req.Dir && isDir:
		return fuse.Errno(syscall.EISDIR)
	case isDir:
		if ok, err := c.empty(ctx); err != nil {
			return Errno(err)
		} else if !ok {
			return fuse.Errno(syscall.ENOTEMPTY)
		}
	}
	unlock := lockNodes(d, c)
	now := time.Now()
	pm, cm := d.m, c.m
	pm.Mtime, pm.Ctime = now, now
	if isDir {
		pm.Nlink--
	}
	gone, orphan := c.unlinkLocked(&cm, now)
	err = f.store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.DeleteDirent(d.ino, req.Name); err != nil {
			return err
		}
		if err := tx.PutNode(&pm); err != nil {
			return err
		}
		if gone {
			return dropInTx(tx, &cm)
		}
		if orphan {
			if err := listAdd(tx, keyOrphans, c.ino); err != nil {
				return err
			}
		}
		return tx.PutNode(&cm)
	})
	if err != nil {
		unlock()
		return Errno(err)
	}
	d.m, c.m = pm, cm
	d.entries++
	if gone {
		c.afterDropLocked()
	}
	unlock()
	f.tree.changed()
	if gone {
		f.dropNode(c)
		f.rel.kick()
	}
	return nil
}

// Rename moves a name, also across directories and over an existing
// entry (which is unlinked, atomically with the move).
func (d *node) Rename(ctx context.Context, req *fuse.RenameRequest, newDir fusefs.Node) error {
	nd, ok := newDir.(*node)
	if !ok {
		return fuse.Errno(syscall.EXDEV)
	}
	if err := checkName(req.NewName); err != nil {
		return err
	}
	f := d.fs
	if err := f.writable(); err != nil {
		return err
	}
	f.treeMu.Lock()
	defer f.treeMu.Unlock()
	if !nd.isDir() {
		return fuse.Errno(syscall.ENOTDIR)
	}
	ino, err := d.lookupChild(ctx, req.OldName)
	if err != nil {
		return Errno(err)
	}
	if ino == 0 {
		return fuse.Errno(syscall.ENOENT)
	}
	c, err := f.getNode(ctx, ino)
	if err != nil {
		return Errno(err)
	}
	cDir := c.isDir()
	var t *node
	tino, err := nd.lookupChild(ctx, req.NewName)
	if err != nil {
		return Errno(err)
	}
	if tino != 0 {
		if tino == ino {
			return nil // two names of one file: nothing to do
		}
		if t, err = f.getNode(ctx, tino); err != nil {
			return Errno(err)
		}
		tDir := t.isDir()
		switch {
		case cDir && !tDir:
			return fuse.Errno(syscall.ENOTDIR)
		case !cDir && tDir:
			return fuse.Errno(syscall.EISDIR)
		case tDir:
			if ok, err := t.empty(ctx); err != nil {
				return Errno(err)
			} else if !ok {
				return fuse.Errno(syscall.ENOTEMPTY)
			}
		}
	}
	unlock := lockNodes(d, nd, c, t)
	now := time.Now()
	copies := make(map[meta.Inode]*meta.Node)
	rec := func(n *node) *meta.Node {
		if m, ok := copies[n.ino]; ok {
			return m
		}
		m := n.m
		copies[n.ino] = &m
		return &m
	}
	rec(d).Mtime, rec(d).Ctime = now, now
	rec(nd).Mtime, rec(nd).Ctime = now, now
	rec(c).Ctime = now
	if cDir && d != nd {
		rec(d).Nlink--
		rec(nd).Nlink++
	}
	var gone, orphan bool
	if t != nil {
		tm := rec(t)
		if tm.Mode.IsDir() {
			rec(nd).Nlink--
		}
		gone, orphan = t.unlinkLocked(tm, now)
	}
	err = f.store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.DeleteDirent(d.ino, req.OldName); err != nil {
			return err
		}
		if err := tx.PutDirent(nd.ino, req.NewName, c.ino); err != nil {
			return err
		}
		for ino, m := range copies {
			if t != nil && ino == t.ino && gone {
				if err := dropInTx(tx, m); err != nil {
					return err
				}
				continue
			}
			if err := tx.PutNode(m); err != nil {
				return err
			}
		}
		if orphan {
			return listAdd(tx, keyOrphans, t.ino)
		}
		return nil
	})
	if err != nil {
		unlock()
		return Errno(err)
	}
	for _, n := range []*node{d, nd, c, t} {
		if n != nil {
			n.m = *copies[n.ino]
		}
	}
	d.entries++
	nd.entries++
	c.name, c.parent = req.NewName, nd.ino
	if gone {
		t.afterDropLocked()
	}
	unlock()
	f.tree.changed()
	if gone {
		f.dropNode(t)
		f.rel.kick()
	}
	return nil
}

// Link makes another name for a file.
func (d *node) Link(ctx context.Context, req *fuse.LinkRequest, old fusefs.Node) (fusefs.Node, error) {
	if err := d.fs.writable(); err != nil {
		return nil, err
	}
	o, ok := old.(*node)
	if !ok {
		return nil, fuse.Errno(syscall.EXDEV)
	}
	if err := checkName(req.NewName); err != nil {
		return nil, err
	}
	if o.isDir() {
		return nil, fuse.Errno(syscall.EPERM)
	}
	f := d.fs
	f.treeMu.Lock()
	defer f.treeMu.Unlock()
	if ino, err := d.lookupChild(ctx, req.NewName); err != nil {
		return nil, Errno(err)
	} else if ino != 0 {
		return nil, fuse.Errno(syscall.EEXIST)
	}
	unlock := lockNodes(d, o)
	defer unlock()
	if o.m.Nlink == 0 || o.destroyed {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	now := time.Now()
	pm, om := d.m, o.m
	pm.Mtime, pm.Ctime = now, now
	om.Nlink++
	om.Ctime = now
	err := f.store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutDirent(d.ino, req.NewName, o.ino); err != nil {
			return err
		}
		if err := tx.PutNode(&pm); err != nil {
			return err
		}
		return tx.PutNode(&om)
	})
	if err != nil {
		return nil, Errno(err)
	}
	d.m, o.m = pm, om
	d.entries++
	f.tree.changed()
	return o, nil
}
