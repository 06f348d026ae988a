package fs

// Snapshots: the tree kept on the network (issue #7).
//
// With Config.PublishRoot set, every change of the namespace or of what a
// node records (create, mkdir, symlink, unlink, rmdir, rename, link, a
// completed put, chmod, utimens, truncate) marks the tree changed. A
// background loop waits until the tree has been quiet for SnapshotDelay
// (at most 10×SnapshotDelay after the first change) and takes a snapshot:
//
//  1. it walks the tree from the root in one read transaction of the
//     store;
//  2. bottom-up, it encodes each directory with chunkinfo.EncodeDir
//     (entries in name order: a regular file as a fileptr with its file
//     id, size, mode and mtime; a directory as a dirptr with its id; a
//     symlink with its target; files and directories with their policy
//     where it is not the default, which Restore gives back and adopts
//     the files with). A file whose content was never put is
//     left out until its put completes; a file whose newest content is
//     still in the spool appears as its last version put; FIFOs and
//     sockets, and names or targets that are not valid UTF-8 (the format
//     cannot hold them), are left out;
//  3. each directory whose bytes are new is put through the engine; bytes
//     seen before reuse their id (a memo keccak256(bytes) → id, kept in
//     the store, holding one engine reference per id);
//  4. it waits until every directory file of the snapshot is uploaded;
//  5. it calls PublishRoot(root id, last published seq + 1), unless the
//     root is the one published last, and records the new state. The
//     directory files only the previous snapshot used are then released
//     (through the release list, as old file versions are).
//
// A failed round (a put, the upload wait or PublishRoot) is logged and
// retried later, with a growing delay, or at the next change; a failed
// publish never consumes a sequence number. State in the store:
//
//	fs/tree-seq          decimal: the last published sequence number
//	fs/tree-root         hex: the last published root directory id
//	fs/tree-memo/KECCAK  JSON memoEntry: a directory file the FS holds
//	fs/tree-dir/INODE    hex: the directory's id in the last published snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/chunkinfo"
	"github.com/pointfs/pointfs/meta/merkle"
)

// Keys of the tree's snapshot state.
const (
	keyTreeSeq  = "fs/tree-seq"
	keyTreeRoot = "fs/tree-root"
	keyTreeMemo = "fs/tree-memo/"
	keyTreeDir  = "fs/tree-dir/"
)

// DirFileName is the name directory files are put under.
const DirFileName = ".pointfs-dir"

const (
	// closeSnapshotTimeout bounds the last snapshot Close attempts.
	closeSnapshotTimeout = 5 * time.Second
	// maxDirBytes bounds a directory file read back (Restore, DirID).
	maxDirBytes = 256 << 20
	// stateBatch is how many keys one store update of the state writes.
	stateBatch = 500
)

// memoEntry is a directory file the FS holds one engine reference to.
type memoEntry struct {
	ID        meta.ID `json:"id"`
	Published bool    `json:"pub,omitempty"` // the last published snapshot uses it
	Uploaded  bool    `json:"up,omitempty"`  // the engine said it is uploaded
}

// snapshotter takes the snapshots of an FS (see the top of this file).
type snapshotter struct {
	f       *FS
	enabled bool
	delay   time.Duration

	sem       chan struct{} // held by the round running
	changes   atomic.Uint64 // bumped by every change
	published atomic.Uint64 // the value of changes the last snapshot published saw

	mu       sync.Mutex
	first    time.Time // first change not yet in a snapshot
	last     time.Time // last change
	failures int       // rounds failed in a row
	retryAt  time.Time
	warned   map[string]bool // entries left out, logged once

	kickc   chan struct{}
	done    chan struct{}
	ctx     context.Context // cancelled by stop
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
	started sync.Once

	// The published state; stateMu guards it. memo is only changed by
	// the round holding sem.
	stateMu sync.Mutex
	seq     uint64
	root    meta.ID // zero: nothing published yet
	dirs    map[meta.Inode]meta.ID
	memo    map[meta.ID]memoEntry // keccak256 of the bytes → entry
}

func newSnapshotter(f *FS) *snapshotter {
	ctx, cancel := context.WithCancel(context.Background())
	return &snapshotter{
		f:       f,
		enabled: f.cfg.PublishRoot != nil && !f.cfg.ReadOnly,
		delay:   f.cfg.SnapshotDelay,
		sem:     make(chan struct{}, 1),
		warned:  make(map[string]bool),
		kickc:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
		dirs:    make(map[meta.Inode]meta.ID),
		memo:    make(map[meta.ID]memoEntry),
	}
}

// load reads the state the store keeps.
func (s *snapshotter) load(ctx context.Context) error {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	err := s.f.store.View(ctx, func(tx meta.Tx) error {
		s.seq, s.root = 0, meta.ID{}
		clear(s.dirs)
		clear(s.memo)
		var err error
		if s.seq, s.root, err = readPublished(tx); err != nil {
			return err
		}
		err = tx.Scan(keyTreeDir, func(k string, v []byte) error {
			ino, err := strconv.ParseUint(strings.TrimPrefix(k, keyTreeDir), 10, 64)
			if err != nil {
				return fmt.Errorf("%w: %s", meta.ErrCorrupt, k)
			}
			id, err := meta.ParseID(string(v))
			if err != nil {
				return fmt.Errorf("%w: %s: %v", meta.ErrCorrupt, k, err)
			}
			s.dirs[meta.Inode(ino)] = id
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Scan(keyTreeMemo, func(k string, v []byte) error {
			key, err := meta.ParseID(strings.TrimPrefix(k, keyTreeMemo))
			if err != nil {
				return fmt.Errorf("%w: %s", meta.ErrCorrupt, k)
			}
			var e memoEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("%w: %s: %v", meta.ErrCorrupt, k, err)
			}
			s.memo[key] = e
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("tree snapshot state: %w", err)
	}
	return nil
}

// readPublished reads the last published sequence number and root.
func readPublished(tx meta.Tx) (uint64, meta.ID, error) {
	var seq uint64
	var root meta.ID
	b, err := tx.Get(keyTreeSeq)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return 0, root, nil
	case err != nil:
		return 0, root, err
	}
	if seq, err = strconv.ParseUint(string(b), 10, 64); err != nil {
		return 0, root, fmt.Errorf("%w: %s %q", meta.ErrCorrupt, keyTreeSeq, b)
	}
	if b, err = tx.Get(keyTreeRoot); err != nil {
		return 0, root, err
	}
	if root, err = meta.ParseID(string(b)); err != nil {
		return 0, root, fmt.Errorf("%w: %s: %v", meta.ErrCorrupt, keyTreeRoot, err)
	}
	return seq, root, nil
}

// start begins the loop. The first round checks that the tree as stored
// is the one published (a crash may have come between a change and its
// snapshot); when it is, it publishes nothing.
func (s *snapshotter) start() {
	if !s.enabled {
		return
	}
	s.started.Do(func() {
		s.changed()
		s.wg.Add(1)
		go s.loop()
	})
}

// stop ends the loop and, when the tree changed since the last snapshot
// published, tries a last one for closeSnapshotTimeout at most.
func (s *snapshotter) stop() {
	if !s.enabled {
		return
	}
	s.once.Do(func() {
		close(s.done)
		s.cancel()
		s.wg.Wait()
		if !s.dirty() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), closeSnapshotTimeout)
		defer cancel()
		if _, _, err := s.round(ctx); err != nil {
			s.f.log.Warn("last snapshot of the tree before closing; the next mount takes it", "err", err)
		}
	})
}

// changed records a change of the tree. It never blocks.
func (s *snapshotter) changed() {
	if !s.enabled {
		return
	}
	now := time.Now()
	s.mu.Lock()
	s.changes.Add(1)
	if s.first.IsZero() {
		s.first = now
	}
	s.last = now
	s.mu.Unlock()
	select {
	case s.kickc <- struct{}{}:
	default:
	}
}

// dirty reports whether the tree has changes no published snapshot holds.
func (s *snapshotter) dirty() bool {
	return s.enabled && s.changes.Load() != s.published.Load()
}

// due returns when the next round should run (zero: none is due).
func (s *snapshotter) due() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty() {
		return time.Time{}
	}
	t := s.last.Add(s.delay)
	if cap := s.first.Add(10 * s.delay); cap.Before(t) {
		t = cap
	}
	if s.retryAt.After(t) {
		t = s.retryAt
	}
	return t
}

func (s *snapshotter) loop() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := time.Hour
		if due := s.due(); !due.IsZero() {
			wait = time.Until(due)
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-s.done:
				return
			case <-s.kickc:
				continue
			case <-timer.C:
				continue
			}
		}
		started := time.Now()
		_, _, err := s.round(s.ctx)
		s.mu.Lock()
		if err != nil {
			s.failures++
			backoff := min(s.delay<<min(s.failures, 10), 5*time.Minute)
			s.retryAt = time.Now().Add(backoff)
			s.mu.Unlock()
			if s.ctx.Err() != nil {
				return
			}
			s.f.log.Warn("snapshot of the tree failed; will retry", "in", backoff, "err", err)
			continue
		}
		s.failures, s.retryAt = 0, time.Time{}
		if s.dirty() {
			s.first = started // changes came during the round
		} else {
			s.first = time.Time{}
		}
		s.mu.Unlock()
	}
}

// Snapshot takes a snapshot of the tree now (after the one running, if
// any), waits until its directories are uploaded and it is published, and
// returns its root directory id and sequence number. When nothing changed
// since the last snapshot published, it returns that one. It needs
// Config.PublishRoot (else meta.ErrInvalid) and a writable FS (else
// meta.ErrReadOnly).
func (f *FS) Snapshot(ctx context.Context) (root meta.ID, seq uint64, err error) {
	switch {
	case f.cfg.ReadOnly:
		return meta.ID{}, 0, fmt.Errorf("snapshot: %w", meta.ErrReadOnly)
	case f.cfg.PublishRoot == nil:
		return meta.ID{}, 0, fmt.Errorf("%w: snapshot: no PublishRoot configured", meta.ErrInvalid)
	}
	return f.tree.round(ctx)
}

// Published returns the root directory id and sequence number of the last
// snapshot published (zero and 0 when there is none).
func (f *FS) Published() (root meta.ID, seq uint64) {
	s := f.tree
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.root, s.seq
}

// dirID returns the id of directory ino in the last published snapshot.
func (s *snapshotter) dirID(ino meta.Inode) (meta.ID, bool) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	id, ok := s.dirs[ino]
	return id, ok
}

// DirID returns the id, in the last published snapshot, of the directory
// at p (slash-separated, relative to the mount's root; "" is the root). It
// reads the snapshot's directory files through the engine, so it answers
// for the tree as published, not as it is now. The error wraps
// meta.ErrNotFound when there is no snapshot or no such name in it, and
// meta.ErrNotDir when p names something else than a directory.
func (f *FS) DirID(ctx context.Context, p string) (meta.ID, error) {
	root, _ := f.Published()
	if root.IsZero() {
		return meta.ID{}, fmt.Errorf("dir id of %q: no snapshot published yet: %w", p, meta.ErrNotFound)
	}
	clean := path.Clean("/" + p)
	if clean == "/" {
		return root, nil
	}
	id := root
	for _, name := range strings.Split(clean[1:], "/") {
		entries, err := readDir(ctx, f.eng, id)
		if err != nil {
			return meta.ID{}, fmt.Errorf("dir id of %q: %w", p, err)
		}
		i, ok := slices.BinarySearchFunc(entries, name, func(e chunkinfo.DirEntry, n string) int {
			return strings.Compare(e.Name, n)
		})
		if !ok {
			// Entries are in name order when pointfs wrote them; be
			// lenient with other writers.
			i = slices.IndexFunc(entries, func(e chunkinfo.DirEntry) bool { return e.Name == name })
			if i < 0 {
				return meta.ID{}, fmt.Errorf("dir id of %q: %q: %w", p, name, meta.ErrNotFound)
			}
		}
		if entries[i].Type != chunkinfo.TypeDirPtr {
			return meta.ID{}, fmt.Errorf("dir id of %q: %q: %w", p, name, meta.ErrNotDir)
		}
		id = entries[i].ID
	}
	return id, nil
}

// readDirBytes reads directory file id through the engine.
func readDirBytes(ctx context.Context, eng Engine, id meta.ID) ([]byte, error) {
	var buf bytes.Buffer
	if err := eng.Get(ctx, id, &limitWriter{w: &buf, n: maxDirBytes}); err != nil {
		return nil, fmt.Errorf("read directory %s: %w", id, err)
	}
	return buf.Bytes(), nil
}

// readDir reads and decodes directory file id.
func readDir(ctx context.Context, eng Engine, id meta.ID) ([]chunkinfo.DirEntry, error) {
	b, err := readDirBytes(ctx, eng, id)
	if err != nil {
		return nil, err
	}
	entries, err := chunkinfo.DecodeDir(b)
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", id, err)
	}
	return entries, nil
}

// limitWriter fails once more than n bytes were written.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, fmt.Errorf("%w: directory file over %d bytes", meta.ErrTooLarge, maxDirBytes)
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}

// unixMode is the Unix number of m's permission, set-user-id, set-group-id
// and sticky bits.
func unixMode(m os.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// fileMode is unixMode's inverse.
func fileMode(u uint32) os.FileMode {
	m := os.FileMode(u & 0o777)
	if u&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// unixNano is t in unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// treeEntry is what a snapshot needs of one entry of a directory.
type treeEntry struct {
	name    string
	ino     meta.Inode
	mode    os.FileMode
	mtime   time.Time
	size    int64
	file    meta.ID
	target  string
	spooled bool
	policy  meta.Policy
}

// treeDir is one directory of the tree being snapshotted.
type treeDir struct {
	ino     meta.Inode
	path    string
	policy  meta.Policy
	entries []treeEntry
}

// readTree reads the whole tree in one read transaction: its directories
// in preorder (a directory before everything under it).
func (f *FS) readTree(ctx context.Context) ([]*treeDir, error) {
	var dirs []*treeDir
	err := f.store.View(ctx, func(tx meta.Tx) error {
		dirs = dirs[:0]
		root, err := tx.Node(meta.RootInode)
		if err != nil {
			return err
		}
		seen := map[meta.Inode]bool{meta.RootInode: true}
		stack := []*treeDir{{ino: meta.RootInode, policy: root.Policy}}
		for len(stack) > 0 {
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			dirs = append(dirs, d)
			var sub []*treeDir
			err := tx.ReadDir(d.ino, func(name string, ino meta.Inode) error {
				m, err := tx.Node(ino)
				if errors.Is(err, meta.ErrNotFound) {
					return nil
				}
				if err != nil {
					return err
				}
				d.entries = append(d.entries, treeEntry{name: name, ino: ino, mode: m.Mode, mtime: m.Mtime,
					size: m.Size, file: m.File, target: m.Target, spooled: m.Spooled, policy: m.Policy})
				if m.Mode.IsDir() && !seen[ino] {
					seen[ino] = true
					sub = append(sub, &treeDir{ino: ino, path: path.Join(d.path, name), policy: m.Policy})
				}
				return nil
			})
			if err != nil {
				return err
			}
			for i := len(sub) - 1; i >= 0; i-- {
				stack = append(stack, sub[i])
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the tree: %w", err)
	}
	return dirs, nil
}

// round takes one snapshot (see the top of this file).
func (s *snapshotter) round(ctx context.Context) (meta.ID, uint64, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return meta.ID{}, 0, ctx.Err()
	}
	defer func() { <-s.sem }()
	gen := s.changes.Load()
	s.stateMu.Lock()
	pubRoot, seq := s.root, s.seq
	s.stateMu.Unlock()
	if gen == s.published.Load() && !pubRoot.IsZero() {
		return pubRoot, seq, nil
	}
	start := time.Now()
	dirs, err := s.f.readTree(ctx)
	if err != nil {
		return meta.ID{}, 0, err
	}
	ids, used, puts, err := s.encode(ctx, dirs)
	if err != nil {
		return meta.ID{}, 0, err
	}
	root := ids[meta.RootInode]
	if err := s.waitUploaded(ctx, used); err != nil {
		return meta.ID{}, 0, err
	}
	if root != pubRoot {
		if err := s.f.cfg.PublishRoot(ctx, root, seq+1); err != nil {
			if perr := s.prune(ctx, used); perr != nil {
				s.f.log.Warn("release directory files of failed snapshots", "err", perr)
			}
			return meta.ID{}, 0, fmt.Errorf("publish tree root %s seq %d: %w", root, seq+1, err)
		}
		seq++
	}
	if err := s.commit(ctx, root, seq, ids, used); err != nil {
		return meta.ID{}, 0, fmt.Errorf("record the snapshot published (root %s seq %d): %w", root, seq, err)
	}
	s.published.Store(gen)
	if root != pubRoot {
		s.f.log.Info("tree snapshot published", "root", root, "seq", seq, "dirs", len(dirs),
			"dirs_put", puts, "took", time.Since(start).Round(time.Millisecond))
	}
	return root, seq, nil
}

// encode encodes the directories bottom-up, puts those whose bytes are
// new, and returns each directory's id and the memo keys the snapshot
// uses.
func (s *snapshotter) encode(ctx context.Context, dirs []*treeDir) (map[meta.Inode]meta.ID, map[meta.ID]bool, int, error) {
	f := s.f
	ids := make(map[meta.Inode]meta.ID, len(dirs))
	used := make(map[meta.ID]bool, len(dirs))
	sizes := make(map[meta.ID]int64) // sizes of the last versions of spooled files
	puts := 0
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		entries := make([]chunkinfo.DirEntry, 0, len(d.entries))
		for _, te := range d.entries {
			e, ok, err := s.entry(ctx, d, te, ids, sizes)
			if err != nil {
				return nil, nil, 0, err
			}
			if ok {
				entries = append(entries, e)
			}
		}
		b := chunkinfo.EncodeDir(entries)
		k := merkle.Keccak256(b)
		used[k] = true
		if e, ok := s.memo[k]; ok {
			ids[d.ino] = e.ID
			continue
		}
		pol := f.putPolicy(d.policy)
		id, err := f.eng.Put(ctx, bytes.NewReader(b), DirFileName, &pol)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("put directory %q: %w", "/"+d.path, err)
		}
		puts++
		e := memoEntry{ID: id}
		v, _ := json.Marshal(e)
		err = f.store.Update(ctx, func(tx meta.Tx) error { return tx.Put(keyTreeMemo+k.String(), v) })
		if err != nil {
			// Nothing holds the reference Put added.
			f.releaseNow(id)
			return nil, nil, 0, fmt.Errorf("record directory file %s: %w", id, err)
		}
		s.memo[k] = e
		ids[d.ino] = id
	}
	return ids, used, puts, nil
}

// entry makes the directory entry of te, or reports that the snapshot
// leaves it out.
func (s *snapshotter) entry(ctx context.Context, d *treeDir, te treeEntry, ids map[meta.Inode]meta.ID, sizes map[meta.ID]int64) (chunkinfo.DirEntry, bool, error) {
	e := chunkinfo.DirEntry{Name: te.name, Mode: unixMode(te.mode), Mtime: unixNano(te.mtime)}
	if te.mode.IsDir() || te.mode.IsRegular() {
		// The node's own policy, where it is not the default, so that a
		// restore gives files the redundancy and expiry they had.
		p := te.policy
		e.Redundancy = min(max(p.Redundancy, 0), chunkinfo.MaxRedundancy)
		if !p.Expires.IsZero() && p.Expires.Unix() > 0 {
			e.Expires = p.Expires.Unix()
		}
		e.NoRenew = !p.Autorenew
	}
	switch {
	case te.mode.IsDir():
		id, ok := ids[te.ino]
		if !ok {
			return e, false, nil // a second name of a directory: cannot happen
		}
		e.Type, e.ID = chunkinfo.TypeDirPtr, id
	case te.mode&os.ModeSymlink != 0:
		e.Type, e.Target, e.Size, e.Mode = chunkinfo.TypeSymlink, te.target, int64(len(te.target)), 0
	case te.mode.IsRegular():
		if te.file.IsZero() {
			return e, false, nil // never put yet: a later snapshot has it
		}
		e.Type, e.ID, e.Size = chunkinfo.TypeFilePtr, te.file, te.size
		if te.spooled {
			// The newest content is in the spool: the snapshot has the
			// last version put, with its size.
			size, ok := sizes[te.file]
			if !ok {
				st, err := s.f.eng.Status(ctx, te.file)
				if errors.Is(err, meta.ErrNotFound) {
					return e, false, nil
				}
				if err != nil {
					return e, false, fmt.Errorf("status of %q: %w", path.Join("/"+d.path, te.name), err)
				}
				size = st.File.Size
				sizes[te.file] = size
			}
			e.Size = size
		}
	default:
		return e, false, nil // FIFOs and sockets have no content to keep
	}
	if err := chunkinfo.CheckEntry(e); err != nil {
		key := strconv.FormatUint(uint64(d.ino), 10) + "/" + te.name
		s.mu.Lock()
		warn := !s.warned[key]
		s.warned[key] = true
		s.mu.Unlock()
		if warn {
			s.f.log.Warn("left out of the tree snapshot: the format cannot hold it",
				"path", path.Join("/"+d.path, te.name), "err", err)
		}
		return e, false, nil
	}
	return e, true, nil
}

// waitUploaded waits until every directory file the snapshot uses is
// uploaded, polling the engine with a growing delay.
func (s *snapshotter) waitUploaded(ctx context.Context, used map[meta.ID]bool) error {
	var pending []meta.ID
	for k := range used {
		if !s.memo[k].Uploaded {
			pending = append(pending, k)
		}
	}
	delay := 20 * time.Millisecond
	for {
		left := pending[:0]
		for _, k := range pending {
			e := s.memo[k]
			st, err := s.f.eng.Status(ctx, e.ID)
			if errors.Is(err, meta.ErrNotFound) {
				// The engine lost it: forget it, the next round puts it again.
				delete(s.memo, k)
				_ = s.f.store.Update(ctx, func(tx meta.Tx) error { return tx.Delete(keyTreeMemo + k.String()) })
				return fmt.Errorf("directory file %s: %w", e.ID, err)
			}
			if err != nil {
				return fmt.Errorf("status of directory file %s: %w", e.ID, err)
			}
			if st.File.State == meta.FileFailed {
				return fmt.Errorf("directory file %s failed to upload", e.ID)
			}
			if st.Total > 0 && st.Uploaded >= st.Total {
				e.Uploaded = true
				s.memo[k] = e
				continue
			}
			left = append(left, k)
		}
		pending = left
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d directory files to upload: %w", len(pending), ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// commit records a snapshot published (or found equal to the one
// published): the sequence number and root, the directories' ids, and
// the memo, whose entries no longer used are released.
func (s *snapshotter) commit(ctx context.Context, root meta.ID, seq uint64, ids map[meta.Inode]meta.ID, used map[meta.ID]bool) error {
	f := s.f
	err := f.store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.Put(keyTreeSeq, []byte(strconv.FormatUint(seq, 10))); err != nil {
			return err
		}
		return tx.Put(keyTreeRoot, []byte(root.String()))
	})
	if err != nil {
		return err
	}
	s.stateMu.Lock()
	s.seq, s.root = seq, root
	old := s.dirs
	s.stateMu.Unlock()

	var ops []func(meta.Tx) error
	dirs := make(map[meta.Inode]meta.ID, len(ids))
	for ino, id := range ids {
		dirs[ino] = id
		if old[ino] != id {
			k, v := keyTreeDir+strconv.FormatUint(uint64(ino), 10), []byte(id.String())
			ops = append(ops, func(tx meta.Tx) error { return tx.Put(k, v) })
		}
	}
	for ino := range old {
		if _, ok := ids[ino]; !ok {
			k := keyTreeDir + strconv.FormatUint(uint64(ino), 10)
			ops = append(ops, func(tx meta.Tx) error { return tx.Delete(k) })
		}
	}
	if err := s.apply(ctx, ops, nil); err != nil {
		return err
	}
	s.stateMu.Lock()
	s.dirs = dirs
	s.stateMu.Unlock()

	ops = ops[:0]
	var marked []meta.ID
	for k, e := range s.memo {
		if used[k] && (!e.Published || !e.Uploaded) {
			e.Published, e.Uploaded = true, true
			v, _ := json.Marshal(e)
			key := keyTreeMemo + k.String()
			ops = append(ops, func(tx meta.Tx) error { return tx.Put(key, v) })
			marked = append(marked, k)
		}
	}
	err = s.dropMemo(ctx, ops, func(k meta.ID, _ memoEntry) bool { return !used[k] })
	if err != nil {
		return err
	}
	for _, k := range marked {
		e := s.memo[k]
		e.Published, e.Uploaded = true, true
		s.memo[k] = e
	}
	return nil
}

// prune releases the directory files that neither the last published
// snapshot nor the one of this round uses: those of earlier rounds whose
// publish failed.
func (s *snapshotter) prune(ctx context.Context, used map[meta.ID]bool) error {
	return s.dropMemo(ctx, nil, func(k meta.ID, e memoEntry) bool { return !used[k] && !e.Published })
}

// dropMemo forgets the memo entries drop picks and releases their
// directory files, in the store updates that also run ops.
func (s *snapshotter) dropMemo(ctx context.Context, ops []func(meta.Tx) error, drop func(meta.ID, memoEntry) bool) error {
	var release, gone []meta.ID
	for k, e := range s.memo {
		if !drop(k, e) {
			continue
		}
		release = append(release, e.ID)
		key := keyTreeMemo + k.String()
		ops = append(ops, func(tx meta.Tx) error { return tx.Delete(key) })
		gone = append(gone, k)
	}
	if err := s.apply(ctx, ops, release); err != nil {
		return err
	}
	for _, k := range gone {
		delete(s.memo, k)
	}
	return nil
}

// apply runs ops in store updates of stateBatch at most; the ids in
// release join the release list in the last one.
func (s *snapshotter) apply(ctx context.Context, ops []func(meta.Tx) error, release []meta.ID) error {
	f := s.f
	for len(ops) > 0 || len(release) > 0 {
		n := min(len(ops), stateBatch)
		batch := ops[:n]
		ops = ops[n:]
		last := len(ops) == 0
		err := f.store.Update(ctx, func(tx meta.Tx) error {
			for _, op := range batch {
				if err := op(tx); err != nil {
					return err
				}
			}
			if !last || len(release) == 0 {
				return nil
			}
			for _, id := range release {
				if err := addRelease(tx, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if last {
			if len(release) > 0 {
				f.rel.kick()
			}
			return nil
		}
	}
	return nil
}
