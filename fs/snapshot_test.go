package fs

// Tests of the tree's snapshots, Restore and read-only serving, on the
// in-memory engine of fs_test.go and real badger stores.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"bazil.org/fuse"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/badgerdb"
	"github.com/pointfs/pointfs/meta/chunkinfo"
)

// publisher records the roots published.
type publisher struct {
	mu        sync.Mutex
	roots     []publishedRoot // successful calls, in order
	attempts  int
	failFirst int // the first failFirst calls fail
}

type publishedRoot struct {
	root meta.ID
	seq  uint64
}

func (p *publisher) publish(ctx context.Context, root meta.ID, seq uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts++
	if p.attempts <= p.failFirst {
		return errors.New("the registry is unreachable")
	}
	p.roots = append(p.roots, publishedRoot{root, seq})
	return nil
}

func (p *publisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.roots)
}

func (p *publisher) last() publishedRoot {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.roots) == 0 {
		return publishedRoot{}
	}
	return p.roots[len(p.roots)-1]
}

// waitCount waits until n roots were published.
func (p *publisher) waitCount(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for p.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d roots published after %v, want %d", p.count(), timeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitRecorded waits until the FS recorded publish seq: the publisher has
// it a moment before (the snapshot records a publish once it succeeded).
func waitRecorded(t *testing.T, w *world, seq uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, s := w.fs.Published(); s >= seq {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %d not recorded after 10s", seq)
		}
	}
}

// snapWorld is a world whose FS publishes to pub.
func snapWorld(t *testing.T, delay time.Duration) (*world, *publisher) {
	pub := &publisher{}
	w := newWorldWith(t, func(c *Config) {
		c.PublishRoot = pub.publish
		c.SnapshotDelay = delay
	})
	return w, pub
}

// memoLen is how many directory files the snapshots hold, read between
// rounds.
func (s *snapshotter) memoLen() int {
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	return len(s.memo)
}

func (w *world) mkdir(d *node, name string, mode os.FileMode) *node {
	w.t.Helper()
	n, err := d.Mkdir(ctx, &fuse.MkdirRequest{Header: hdr(), Name: name, Mode: os.ModeDir | mode})
	if err != nil {
		w.t.Fatalf("mkdir %s: %v", name, err)
	}
	return n.(*node)
}

func (w *world) symlink(d *node, name, target string) *node {
	w.t.Helper()
	n, err := d.Symlink(ctx, &fuse.SymlinkRequest{Header: hdr(), NewName: name, Target: target})
	if err != nil {
		w.t.Fatalf("symlink %s: %v", name, err)
	}
	return n.(*node)
}

func (w *world) writeFile(d *node, name string, data []byte) *node {
	w.t.Helper()
	n, h := w.create(d, name)
	if len(data) > 0 {
		w.write(h, 0, data)
	}
	w.close_(h)
	return n
}

func (w *world) setattr(n *node, req *fuse.SetattrRequest) {
	w.t.Helper()
	if err := n.Setattr(ctx, req, &fuse.SetattrResponse{}); err != nil {
		w.t.Fatalf("setattr: %v", err)
	}
}

func (w *world) xattr(n *node, name string) (string, error) {
	resp := &fuse.GetxattrResponse{}
	err := n.Getxattr(ctx, &fuse.GetxattrRequest{Name: name}, resp)
	return string(resp.Xattr), err
}

// dumpEnt is what a restore must keep of a tree entry.
type dumpEnt struct {
	Mode   os.FileMode
	Mtime  int64
	Size   int64
	File   meta.ID
	Target string
	Nlink  uint32
}

// dumpTree lists every entry of the tree in store by path.
func dumpTree(t *testing.T, store meta.Store) map[string]dumpEnt {
	t.Helper()
	out := map[string]dumpEnt{}
	err := store.View(ctx, func(tx meta.Tx) error {
		type dir struct {
			ino meta.Inode
			p   string
		}
		stack := []dir{{meta.RootInode, ""}}
		for len(stack) > 0 {
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			err := tx.ReadDir(d.ino, func(name string, ino meta.Inode) error {
				m, err := tx.Node(ino)
				if err != nil {
					return err
				}
				p := path.Join(d.p, name)
				e := dumpEnt{Mode: m.Mode, Mtime: m.Mtime.UnixNano(), Size: m.Size, File: m.File, Target: m.Target, Nlink: m.Nlink}
				if m.Mode.IsDir() {
					e.Size = 0
					stack = append(stack, dir{ino, p})
				}
				out[p] = e
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compareTrees(t *testing.T, got, want map[string]dumpEnt) {
	t.Helper()
	bad := 0
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%q missing", p)
		case g != w:
			t.Errorf("%q:\n got %+v\nwant %+v", p, g, w)
		default:
			continue
		}
		if bad++; bad > 10 {
			t.Fatal("too many differences")
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%q should not be there", p)
		}
	}
}

func openStore(t *testing.T, dir string) *badgerdb.DB {
	t.Helper()
	db, err := badgerdb.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

const bigDirEntries = 10000

// buildTree fills w with a tree of every kind of entry and returns the
// paths a snapshot leaves out.
func buildTree(t *testing.T, w *world) (left []string) {
	t.Helper()
	docs := w.mkdir(w.root, "docs", 0o750)
	w.writeFile(docs, "a.txt", []byte("hello"))
	w.writeFile(docs, "ünïcødé 文件 ✓.txt", bytes.Repeat([]byte("x"), 600<<10))
	nested := w.mkdir(docs, "nested", 0o755)
	deeper := w.mkdir(nested, "deeper \"quoted\"\n", 0o700)
	x := w.writeFile(deeper, "x.bin", []byte{0, 1, 2, 3})
	w.writeFile(deeper, "empty file", nil)
	w.mkdir(w.root, "empty", 0o755)
	sticky := w.mkdir(w.root, "tmp", 0o777)
	w.setattr(sticky, &fuse.SetattrRequest{Valid: fuse.SetattrMode, Mode: os.ModeDir | os.ModeSticky | 0o777})
	w.symlink(w.root, "link ↗", "docs/a.txt")
	w.symlink(docs, "up", "../tmp")
	// chmod and utimens on a file.
	w.setattr(x, &fuse.SetattrRequest{Valid: fuse.SetattrMode, Mode: os.ModeSetuid | os.ModeSetgid | 0o750})
	old := time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC)
	w.setattr(x, &fuse.SetattrRequest{Valid: fuse.SetattrMtime | fuse.SetattrAtime, Mtime: old, Atime: old})
	// Left out: a FIFO, a name the format cannot hold.
	if _, err := w.root.Mknod(ctx, &fuse.MknodRequest{Header: hdr(), Name: "fifo", Mode: os.ModeNamedPipe | 0o644}); err != nil {
		t.Fatal(err)
	}
	w.writeFile(w.root, "bad\xffname", []byte("bad"))
	left = append(left, "fifo", "bad\xffname")
	big := w.mkdir(w.root, "big", 0o755)
	for i := range bigDirEntries {
		name := fmt.Sprintf("entry %05d", i)
		if i%10 == 0 {
			w.writeFile(big, name, []byte(name))
		} else {
			w.symlink(big, name, "../docs/"+name)
		}
	}
	w.settle()
	return left
}

// TestSnapshotRestore snapshots a tree, restores it into a fresh store
// with the same engine, and checks that the restored tree is the same
// and that an FS on it sees the same snapshot.
func TestSnapshotRestore(t *testing.T) {
	w, pub := snapWorld(t, time.Hour) // snapshots only when asked
	left := buildTree(t, w)
	// A file still being written has no content put yet: left out.
	_, open := w.create(w.root, "being written")
	defer w.close_(open)
	w.write(open, 0, []byte("not yet"))
	left = append(left, "being written")

	root, seq, err := w.fs.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seq != 1 || pub.count() != 1 || pub.last() != (publishedRoot{root, 1}) {
		t.Fatalf("Snapshot = %s, %d; published %+v", root, seq, pub.roots)
	}
	want := dumpTree(t, w.store)
	for _, p := range left {
		delete(want, p)
	}
	// Seven directories, of which two (empty and tmp) are identical
	// files: six distinct ones.
	dirPuts := w.eng.putsNamed(DirFileName)
	if dirPuts != 6 {
		t.Errorf("%d directory files put, want 6", dirPuts)
	}

	// The root published is a directory chunkinfo naming what it holds.
	entries, err := readDir(ctx, w.eng, root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Type+":"+e.Name)
	}
	if got := strings.Join(names, ","); got != "dirptr:big,dirptr:docs,dirptr:empty,symlink:link ↗,dirptr:tmp" {
		t.Errorf("root lists %s", got)
	}

	db := openStore(t, filepath.Join(t.TempDir(), "restored"))
	defer db.Close()
	start := time.Now()
	if err := Restore(ctx, db, w.eng, root, seq, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("restored %d entries in %v", len(want), time.Since(start))
	got := dumpTree(t, db)
	compareTrees(t, got, want)

	// Every file the restored tree names holds its own reference.
	w.eng.mu.Lock()
	for p, e := range got {
		if e.Mode.IsRegular() && w.eng.refs[e.File] < 2 {
			t.Errorf("%q: file %s has %d references, want 2 (source and restored)", p, e.File, w.eng.refs[e.File])
		}
	}
	w.eng.mu.Unlock()

	// An FS on the restored store knows the snapshot: it publishes nothing
	// and puts no directory again, and serves the files.
	pub2 := &publisher{}
	f2, err := New(Config{Engine: w.eng, Store: db, SpoolDir: filepath.Join(t.TempDir(), "spool"),
		PublishRoot: pub2.publish, SnapshotDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if r, s := f2.Published(); r != root || s != seq {
		t.Fatalf("restored FS: published %s %d, want %s %d", r, s, root, seq)
	}
	f2.Start()
	r2, s2, err := f2.Snapshot(ctx)
	if err != nil || r2 != root || s2 != seq || pub2.count() != 0 {
		t.Fatalf("restored FS snapshot: %s %d %v, published %d times", r2, s2, err, pub2.count())
	}
	if n := w.eng.putsNamed(DirFileName); n != dirPuts {
		t.Errorf("restored FS put %d directories again", n-dirPuts)
	}
	rn, err := f2.Root()
	if err != nil {
		t.Fatal(err)
	}
	w2 := &world{t: t, store: db, eng: w.eng, fs: f2, root: rn.(*node)}
	docs, err := w2.lookup(w2.root, "docs")
	if err != nil {
		t.Fatal(err)
	}
	a, err := w2.lookup(docs, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	h := w2.open_(a, fuse.OpenReadOnly)
	if b := w2.read(h, 0, 100); string(b) != "hello" {
		t.Errorf("restored docs/a.txt reads %q", b)
	}
	w2.close_(h)
	if v, err := w2.xattr(docs, "user.point.id"); err != nil || v == "" {
		t.Errorf("user.point.id of docs: %q %v", v, err)
	} else if id, err := f2.DirID(ctx, "docs"); err != nil || id.String() != v {
		t.Errorf("DirID(docs) = %s %v, xattr says %s", id, err, v)
	}
	// A change publishes the next sequence number, putting only the
	// directories on its path.
	w2.writeFile(docs, "new", []byte("new"))
	deadline := time.Now().Add(10 * time.Second)
	for pub2.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the restored FS did not publish its change")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p := pub2.last(); p.seq != seq+1 || p.root == root {
		t.Errorf("after a change: published %+v, want seq %d", p, seq+1)
	}
	if n := w.eng.putsNamed(DirFileName) - dirPuts; n != 2 {
		t.Errorf("a change in docs put %d directories, want 2 (docs and the root)", n)
	}
}

func TestSnapshotBatching(t *testing.T) {
	const delay = 100 * time.Millisecond
	w, pub := snapWorld(t, delay)
	// The first round publishes the empty tree.
	pub.waitCount(t, 1, 5*time.Second)
	if p := pub.last(); p.seq != 1 {
		t.Fatalf("first publish %+v", p)
	}
	// A burst of changes: one publish.
	a := w.mkdir(w.root, "a", 0o755)
	c := w.mkdir(w.mkdir(a, "b", 0o755), "c", 0o755)
	for i := range 200 {
		w.symlink(c, fmt.Sprintf("l%d", i), "target")
	}
	for i := range 20 {
		w.writeFile(a, fmt.Sprintf("f%d", i), []byte{byte(i)})
	}
	w.settle()
	pub.waitCount(t, 2, 10*time.Second)
	time.Sleep(5 * delay)
	if n := pub.count(); n != 2 {
		t.Fatalf("%d publishes after one burst of changes, want 2: %+v", n, pub.roots)
	}
	if p := pub.last(); p.seq != 2 {
		t.Errorf("seq %d, want 2", p.seq)
	}
	// A change deep down puts the directories on its path only, and
	// releases their previous versions.
	before := w.eng.putsNamed(DirFileName)
	oldRoot := pub.last().root
	w.symlink(c, "one more", "x")
	root, seq, err := w.fs.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seq != 3 || root == oldRoot {
		t.Errorf("Snapshot = %s %d", root, seq)
	}
	if n := w.eng.putsNamed(DirFileName) - before; n != 4 {
		t.Errorf("a change in a/b/c put %d directories, want 4", n)
	}
	w.settle()
	if _, err := w.eng.data(oldRoot); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("the previous root is still held: %v", err)
	}
	// The engine holds one reference per directory file of the snapshot.
	w.fs.tree.stateMu.Lock()
	distinct := map[meta.ID]bool{}
	for _, id := range w.fs.tree.dirs {
		distinct[id] = true
	}
	w.fs.tree.stateMu.Unlock()
	if n := w.fs.tree.memoLen(); n != len(distinct) {
		t.Errorf("memo holds %d directory files, the snapshot uses %d", n, len(distinct))
	}
	for id := range distinct {
		w.eng.mu.Lock()
		r := w.eng.refs[id]
		w.eng.mu.Unlock()
		if r != 1 {
			t.Errorf("directory file %s has %d references", id, r)
		}
	}
	// Nothing changed: Snapshot returns the same.
	if r2, s2, err := w.fs.Snapshot(ctx); err != nil || r2 != root || s2 != seq {
		t.Errorf("Snapshot of an unchanged tree = %s %d %v", r2, s2, err)
	}
	// The state survives a restart: nothing is put or published again.
	puts := w.eng.putsNamed(DirFileName)
	w.close()
	w.open()
	if r, s := w.fs.Published(); r != root || s != seq {
		t.Fatalf("after a restart: %s %d", r, s)
	}
	if r2, s2, err := w.fs.Snapshot(ctx); err != nil || r2 != root || s2 != seq {
		t.Errorf("Snapshot after a restart = %s %d %v", r2, s2, err)
	}
	if n := w.eng.putsNamed(DirFileName); n != puts || pub.count() != 3 {
		t.Errorf("after a restart: %d directories put, %d publishes", n-puts, pub.count())
	}
}

func TestSnapshotPublishRetried(t *testing.T) {
	const delay = 20 * time.Millisecond
	pub := &publisher{failFirst: 3}
	w := newWorldWith(t, func(c *Config) {
		c.PublishRoot = pub.publish
		c.SnapshotDelay = delay
	})
	w.mkdir(w.root, "d", 0o755)
	pub.waitCount(t, 1, 20*time.Second)
	pub.mu.Lock()
	if pub.attempts != 4 {
		t.Errorf("%d attempts, want 4", pub.attempts)
	}
	pub.mu.Unlock()
	// A failed publish does not consume a sequence number.
	if p := pub.last(); p.seq != 1 {
		t.Errorf("seq %d after failed publishes, want 1", p.seq)
	}
	waitRecorded(t, w, 1)
	root, _ := w.fs.Published()
	entries, err := readDir(ctx, w.eng, root)
	if err != nil || len(entries) != 1 || entries[0].Name != "d" {
		t.Errorf("published root lists %+v %v", entries, err)
	}
	// The directory files of the failed rounds are released.
	w.settle()
	if n := w.fs.tree.memoLen(); n != 2 {
		t.Errorf("memo holds %d directory files, want 2", n)
	}
}

func TestSnapshotWaitsForUpload(t *testing.T) {
	w, pub := snapWorld(t, time.Hour)
	d := w.mkdir(w.root, "d", 0o755)
	if _, err := w.xattr(d, "user.point.id"); err != fuse.ErrNoXattr {
		t.Errorf("user.point.id before any snapshot: %v", err)
	}
	if _, err := w.xattr(w.root, "user.point.seq"); err != fuse.ErrNoXattr {
		t.Errorf("user.point.seq before any snapshot: %v", err)
	}
	if v, _ := w.xattr(w.root, "user.point.status"); v != "uploading" {
		t.Errorf("root status with changes not published: %q", v)
	}
	if v, _ := w.xattr(d, "user.point.status"); v != "uploaded" {
		t.Errorf("status of an empty directory: %q", v)
	}
	w.eng.mu.Lock()
	w.eng.uploading = true
	w.eng.mu.Unlock()
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, _, err := w.fs.Snapshot(tctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Snapshot while the directories upload: %v", err)
	}
	if pub.count() != 0 {
		t.Fatal("published before the directories were uploaded")
	}
	w.eng.mu.Lock()
	w.eng.uploading = false
	w.eng.mu.Unlock()
	puts := w.eng.putsNamed(DirFileName)
	root, seq, err := w.fs.Snapshot(ctx)
	if err != nil || seq != 1 {
		t.Fatalf("Snapshot: %s %d %v", root, seq, err)
	}
	if n := w.eng.putsNamed(DirFileName); n != puts {
		t.Errorf("the retry put %d directories again", n-puts)
	}
	if v, _ := w.xattr(w.root, "user.point.status"); v != "uploaded" {
		t.Errorf("root status once published: %q", v)
	}
	if v, err := w.xattr(w.root, "user.point.seq"); v != "1" || err != nil {
		t.Errorf("user.point.seq = %q %v", v, err)
	}
	if v, err := w.xattr(w.root, "user.point.id"); v != root.String() || err != nil {
		t.Errorf("root user.point.id = %q %v", v, err)
	}
	id, err := w.fs.DirID(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := w.xattr(d, "user.point.id"); v != id.String() || err != nil {
		t.Errorf("user.point.id of d = %q %v, DirID says %s", v, err, id)
	}
	if id, err := w.fs.DirID(ctx, "/"); err != nil || id != root {
		t.Errorf("DirID(/) = %s %v", id, err)
	}
	if _, err := w.fs.DirID(ctx, "nope"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("DirID of a missing name: %v", err)
	}
	// The listing shows the new names.
	resp := &fuse.ListxattrResponse{}
	if err := w.root.Listxattr(ctx, &fuse.ListxattrRequest{}, resp); err != nil {
		t.Fatal(err)
	}
	if l := string(resp.Xattr); !strings.Contains(l, "user.point.id\x00") || !strings.Contains(l, "user.point.seq\x00") {
		t.Errorf("root lists %q", l)
	}
	// A file listed without a snapshot of its own: DirID refuses it.
	w.writeFile(d, "f", []byte("f"))
	w.settle()
	if _, _, err := w.fs.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.fs.DirID(ctx, "d/f"); !errors.Is(err, meta.ErrNotDir) {
		t.Errorf("DirID of a file: %v", err)
	}
}

func TestSnapshotOnClose(t *testing.T) {
	w, pub := snapWorld(t, time.Hour)
	w.mkdir(w.root, "d", 0o755)
	w.close()
	if pub.count() != 1 {
		t.Fatalf("Close published %d roots, want 1", pub.count())
	}
	w.open()
	if r, s := w.fs.Published(); r != pub.last().root || s != 1 {
		t.Errorf("after Close and open: %s %d", r, s)
	}
}

func TestRestoreRefuses(t *testing.T) {
	eng := newMemEngine()
	put := func(b []byte) meta.ID {
		id, err := eng.Put(ctx, bytes.NewReader(b), DirFileName, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Corrupt: not canonical, and a valid root naming a corrupt directory.
	bad := put([]byte(`{"type":"dir", "files":[]}`))
	nested := put(chunkinfo.EncodeDir([]chunkinfo.DirEntry{{Type: chunkinfo.TypeDirPtr, Name: "sub", ID: bad}}))
	for _, root := range []meta.ID{bad, nested} {
		dir := t.TempDir()
		db := openStore(t, dir)
		err := Restore(ctx, db, eng, root, 1, nil)
		if !errors.Is(err, meta.ErrCorrupt) {
			t.Errorf("restore of a corrupt tree: %v", err)
		}
		// The store says that its restore did not finish.
		_, err = New(Config{Engine: eng, Store: db, SpoolDir: filepath.Join(dir, "spool")})
		if err == nil || !strings.Contains(err.Error(), "did not finish") {
			t.Errorf("New on an unfinished restore: %v", err)
		}
		// Another root cannot be restored over it.
		other := put(chunkinfo.EncodeDir(nil))
		if err := Restore(ctx, db, eng, other, 1, nil); !errors.Is(err, ErrTreeNotEmpty) {
			t.Errorf("restore of another root over an unfinished one: %v", err)
		}
		db.Close()
	}
	// A missing root.
	db := openStore(t, t.TempDir())
	if err := Restore(ctx, db, eng, meta.ID{1}, 1, nil); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("restore of a missing root: %v", err)
	}
	db.Close()
	// A tree that is not empty.
	w := newWorld(t)
	w.writeFile(w.root, "f", []byte("f"))
	w.settle()
	empty := put(chunkinfo.EncodeDir(nil))
	if err := Restore(ctx, w.store, w.eng, empty, 1, nil); !errors.Is(err, ErrTreeNotEmpty) {
		t.Errorf("restore into a tree with entries: %v", err)
	}
	// An empty root (an FS opened once) is fine.
	w2 := newWorld(t)
	w2.fs.Close()
	w2.fs = nil
	root := put(chunkinfo.EncodeDir([]chunkinfo.DirEntry{{Type: chunkinfo.TypeSymlink, Name: "l", Size: 1, Target: "x"}}))
	w2.eng = eng
	if err := Restore(ctx, w2.store, eng, root, 5, nil); err != nil {
		t.Fatalf("restore into an empty tree: %v", err)
	}
	if d := dumpTree(t, w2.store); len(d) != 1 || d["l"].Target != "x" {
		t.Errorf("restored %+v", d)
	}
}

// TestRestoreResume: a restore that stops midway (an Adopt fails) is
// finished by running it again, with one reference per node.
func TestRestoreResume(t *testing.T) {
	w, _ := snapWorld(t, time.Hour)
	docs := w.mkdir(w.root, "docs", 0o755)
	for i := range 600 {
		w.writeFile(docs, fmt.Sprintf("f%03d", i), []byte(fmt.Sprint(i)))
	}
	for i := range 20 {
		d := w.mkdir(w.root, fmt.Sprintf("d%02d", i), 0o755)
		w.writeFile(d, "x", []byte(fmt.Sprint("x", i)))
	}
	w.settle()
	root, seq, err := w.fs.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := dumpTree(t, w.store)
	refs := func() map[meta.ID]int {
		w.eng.mu.Lock()
		defer w.eng.mu.Unlock()
		m := map[meta.ID]int{}
		for id, r := range w.eng.refs {
			m[id] = r
		}
		return m
	}
	before := refs()

	dbDir := filepath.Join(t.TempDir(), "restored")
	db := openStore(t, dbDir)
	needs := func(want bool) {
		t.Helper()
		if got, err := NeedsRestore(ctx, db); err != nil || got != want {
			t.Fatalf("NeedsRestore = %v (%v), want %v", got, err, want)
		}
	}
	needs(true) // empty
	for _, failAt := range []int{3, 200, 100} {
		w.eng.mu.Lock()
		w.eng.adopts, w.eng.adoptFailAt = 0, failAt
		w.eng.mu.Unlock()
		err := Restore(ctx, db, w.eng, root, seq, nil)
		if !errors.Is(err, meta.ErrUnavailable) {
			t.Fatalf("restore failing at adopt %d: %v", failAt, err)
		}
		// A crash: the store is closed and opened again.
		db.Close()
		db = openStore(t, dbDir)
		needs(true) // partly restored: the restore is still due
	}
	w.eng.mu.Lock()
	w.eng.adoptFailAt = 0
	w.eng.mu.Unlock()
	if err := Restore(ctx, db, w.eng, root, seq, nil); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	needs(false)
	compareTrees(t, dumpTree(t, db), want)
	// Each restored file and directory file holds exactly one more
	// reference.
	after := refs()
	added := map[meta.ID]int{}
	for _, e := range want {
		if e.Mode.IsRegular() {
			added[e.File]++
		}
	}
	// Directory files: one reference each, through the memo.
	err = db.View(ctx, func(tx meta.Tx) error {
		return tx.Scan(keyTreeMemo, func(k string, v []byte) error {
			id, err := meta.ParseID(string(bytes.Split(bytes.Split(v, []byte(`"id":"`))[1], []byte(`"`))[0]))
			if err != nil {
				return err
			}
			added[id]++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range added {
		if after[id]-before[id] != n {
			t.Errorf("file %s: %d references added, want %d", id, after[id]-before[id], n)
		}
	}
	// Restoring the same root again: the tree is not empty any more.
	if err := Restore(ctx, db, w.eng, root, seq, nil); !errors.Is(err, ErrTreeNotEmpty) {
		t.Errorf("second restore: %v", err)
	}
}

// TestReadOnly serves a restored tree read-only: every change fails with
// EROFS, reads and xattrs work, nothing is published.
func TestReadOnly(t *testing.T) {
	src, _ := snapWorld(t, time.Hour)
	d := src.mkdir(src.root, "d", 0o755)
	src.writeFile(d, "f", []byte("content"))
	src.symlink(src.root, "l", "d/f")
	src.settle()
	root, seq, err := src.fs.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub := &publisher{}
	w := &world{t: t, dir: t.TempDir(), eng: src.eng, tweak: func(c *Config) {
		c.ReadOnly = true
		c.PublishRoot = pub.publish
		c.SnapshotDelay = time.Millisecond
	}}
	db := openStore(t, filepath.Join(w.dir, "meta"))
	if err := Restore(ctx, db, w.eng, root, seq, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	w.open()
	t.Cleanup(w.close)

	rd, err := w.lookup(w.root, "d")
	if err != nil {
		t.Fatal(err)
	}
	f, err := w.lookup(rd, "f")
	if err != nil {
		t.Fatal(err)
	}
	h := w.open_(f, fuse.OpenReadOnly)
	if b := w.read(h, 0, 100); string(b) != "content" {
		t.Errorf("read %q", b)
	}
	w.close_(h)
	l, _ := w.lookup(w.root, "l")
	if tgt, err := l.Readlink(ctx, &fuse.ReadlinkRequest{}); err != nil || tgt != "d/f" {
		t.Errorf("readlink %q %v", tgt, err)
	}
	for name, want := range map[string]string{"user.point.status": "uploaded", "user.point.size": "7"} {
		if v, err := w.xattr(f, name); v != want || err != nil {
			t.Errorf("%s = %q %v", name, v, err)
		}
	}
	if v, err := w.xattr(w.root, "user.point.seq"); v != fmt.Sprint(seq) || err != nil {
		t.Errorf("user.point.seq = %q %v", v, err)
	}
	if v, err := w.xattr(w.root, "user.point.id"); v != root.String() || err != nil {
		t.Errorf("root user.point.id = %q %v", v, err)
	}
	if v, err := w.xattr(w.root, "user.point.status"); v != "uploaded" || err != nil {
		t.Errorf("root status = %q %v", v, err)
	}

	erofs := fuse.Errno(syscall.EROFS)
	check := func(what string, err error) {
		t.Helper()
		if err != erofs {
			t.Errorf("%s: %v, want EROFS", what, err)
		}
	}
	_, err = w.root.Mkdir(ctx, &fuse.MkdirRequest{Header: hdr(), Name: "x", Mode: os.ModeDir | 0o755})
	check("mkdir", err)
	_, _, err = w.root.Create(ctx, &fuse.CreateRequest{Header: hdr(), Name: "x", Flags: fuse.OpenReadWrite, Mode: 0o644}, &fuse.CreateResponse{})
	check("create", err)
	_, err = w.root.Mknod(ctx, &fuse.MknodRequest{Header: hdr(), Name: "x", Mode: os.ModeNamedPipe | 0o644})
	check("mknod", err)
	_, err = w.root.Symlink(ctx, &fuse.SymlinkRequest{Header: hdr(), NewName: "x", Target: "y"})
	check("symlink", err)
	_, err = rd.Link(ctx, &fuse.LinkRequest{NewName: "g"}, f)
	check("link", err)
	_, err = f.Open(ctx, &fuse.OpenRequest{Flags: fuse.OpenWriteOnly}, &fuse.OpenResponse{})
	check("open for writing", err)
	_, err = f.Open(ctx, &fuse.OpenRequest{Flags: fuse.OpenReadWrite}, &fuse.OpenResponse{})
	check("open read-write", err)
	check("write", (&handle{n: f, writable: true}).Write(ctx, &fuse.WriteRequest{Data: []byte("x")}, &fuse.WriteResponse{}))
	check("chmod", f.Setattr(ctx, &fuse.SetattrRequest{Valid: fuse.SetattrMode, Mode: 0o600}, &fuse.SetattrResponse{}))
	check("truncate", f.Setattr(ctx, &fuse.SetattrRequest{Valid: fuse.SetattrSize}, &fuse.SetattrResponse{}))
	check("unlink", rd.Remove(ctx, &fuse.RemoveRequest{Name: "f"}))
	check("rmdir", w.root.Remove(ctx, &fuse.RemoveRequest{Name: "d", Dir: true}))
	check("rename", rd.Rename(ctx, &fuse.RenameRequest{OldName: "f", NewName: "g"}, rd))
	check("setxattr", f.Setxattr(ctx, &fuse.SetxattrRequest{Name: "user.x", Xattr: []byte("1")}))
	check("set user.point.redundancy", f.Setxattr(ctx, &fuse.SetxattrRequest{Name: "user.point.redundancy", Xattr: []byte("5")}))
	check("removexattr", f.Removexattr(ctx, &fuse.RemovexattrRequest{Name: "user.x"}))
	if _, _, err := w.fs.Snapshot(ctx); !errors.Is(err, meta.ErrReadOnly) {
		t.Errorf("Snapshot of a read-only FS: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if pub.count() != 0 {
		t.Errorf("a read-only FS published %d roots", pub.count())
	}
	// Nothing changed.
	if got := dumpTree(t, w.store); len(got) != 3 {
		t.Errorf("tree after refused changes: %+v", got)
	}
}

func TestModeConversion(t *testing.T) {
	for _, m := range []os.FileMode{0, 0o644, 0o7777 &^ 0o7000, os.ModeSetuid | 0o755, os.ModeSetgid | 0o2,
		os.ModeSticky | 0o777, os.ModeSetuid | os.ModeSetgid | os.ModeSticky | 0o777} {
		if got := fileMode(unixMode(m)); got != m {
			t.Errorf("%v → %#o → %v", m, unixMode(m), got)
		}
	}
	if u := unixMode(os.ModeDir | os.ModeSetuid | os.ModeSticky | 0o750); u != 0o5750 {
		t.Errorf("unixMode = %#o", u)
	}
}

// A file's and a directory's storage policies go into the snapshot and
// come back with a restore, and the restore adopts each file with its own:
// a file kept at redundancy 5 is not restored at the default 3. Entries
// with the default policy keep the original format.
func TestSnapshotKeepsPolicies(t *testing.T) {
	w, _ := snapWorld(t, time.Hour)
	docs := w.mkdir(w.root, "docs", 0o755)
	a := w.writeFile(docs, "a.txt", []byte("kept at five"))
	w.writeFile(docs, "b.txt", []byte("default"))
	w.settle()
	until := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	set := func(n *node, name, v string) {
		t.Helper()
		if err := n.Setxattr(ctx, &fuse.SetxattrRequest{Name: "user.point." + name, Xattr: []byte(v)}); err != nil {
			t.Fatalf("set %s=%s: %v", name, v, err)
		}
	}
	set(a, "redundancy", "5")
	set(docs, "expires", until.Format(time.RFC3339))
	set(docs, "autorenew", "0")
	root, seq, err := w.fs.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rootEntries, err := readDir(ctx, w.eng, root)
	if err != nil || len(rootEntries) != 1 {
		t.Fatalf("root: %+v, %v", rootEntries, err)
	}
	if e := rootEntries[0]; e.Expires != until.Unix() || !e.NoRenew || e.Redundancy != 0 {
		t.Fatalf("docs entry %+v: want its expiry and autorenew off", e)
	}
	entries, err := readDir(ctx, w.eng, rootEntries[0].ID)
	if err != nil || len(entries) != 2 {
		t.Fatalf("docs: %+v, %v", entries, err)
	}
	// a.txt was made in docs before docs' policy changed: its own is
	// redundancy 5 with autorenew on; b.txt has the default, no fields.
	if e := entries[0]; e.Name != "a.txt" || e.Redundancy != 5 || e.Expires != 0 || e.NoRenew {
		t.Fatalf("a.txt entry %+v", e)
	}
	if e := entries[1]; e.Name != "b.txt" || e.Redundancy != 0 || e.Expires != 0 || e.NoRenew {
		t.Fatalf("b.txt entry %+v", e)
	}

	db := openStore(t, filepath.Join(t.TempDir(), "restored"))
	defer db.Close()
	if err := Restore(ctx, db, w.eng, root, seq, nil); err != nil {
		t.Fatal(err)
	}
	pol := func(p string) meta.Policy {
		t.Helper()
		var got meta.Policy
		err := db.View(ctx, func(tx meta.Tx) error {
			ino := meta.RootInode
			for _, name := range strings.Split(p, "/") {
				var err error
				if ino, err = tx.Lookup(ino, name); err != nil {
					return err
				}
			}
			n, err := tx.Node(ino)
			if err == nil {
				got = n.Policy
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return got
	}
	if p := pol("docs"); p.Redundancy != 0 || !p.Expires.Equal(until) || p.Autorenew {
		t.Errorf("restored docs: %+v", p)
	}
	if p := pol("docs/a.txt"); p.Redundancy != 5 || !p.Expires.IsZero() || !p.Autorenew {
		t.Errorf("restored docs/a.txt: %+v", p)
	}
	if p := pol("docs/b.txt"); p != (meta.Policy{Autorenew: true}) {
		t.Errorf("restored docs/b.txt: %+v, want the defaults", p)
	}
	w.eng.mu.Lock()
	defer w.eng.mu.Unlock()
	if p, ok := w.eng.adoptedWith[entries[0].ID]; !ok || p.Redundancy != 5 {
		t.Errorf("a.txt adopted with %+v (%v), want redundancy 5", p, ok)
	}
}
