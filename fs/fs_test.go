package fs

// Tests of the tree, the spool, the put queue, the errno mapping and the
// xattr formatting, calling the node methods directly: no kernel, a real
// badger store, an in-memory engine.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"bazil.org/fuse"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/badgerdb"
)

// memEngine is an Engine that keeps files in memory, counting references.
type memEngine struct {
	mu     sync.Mutex
	files  map[meta.ID][]byte
	refs   map[meta.ID]int
	pols   map[meta.ID]meta.Policy
	puts   int
	failAt int           // Put fails when puts reaches it (0: never)
	gate   chan struct{} // when set, Put waits for a value from it
	inPut  chan struct{} // when set, Put signals it has started
	named  map[string]int
	// uploading makes Status say that no file is uploaded yet.
	uploading bool
	adopts    int
	// adoptFailAt makes Adopt fail when adopts reaches it (0: never).
	adoptFailAt int
	adoptedWith map[meta.ID]meta.Policy // the policy each adopt asked for
}

func newMemEngine() *memEngine {
	return &memEngine{files: map[meta.ID][]byte{}, refs: map[meta.ID]int{}, pols: map[meta.ID]meta.Policy{},
		named: map[string]int{}}
}

func (e *memEngine) Put(ctx context.Context, r io.Reader, name string, pol *meta.Policy) (meta.ID, error) {
	b, err := io.ReadAll(r)
	if e.inPut != nil {
		e.inPut <- struct{}{}
	}
	if e.gate != nil {
		<-e.gate
	}
	if err != nil {
		return meta.ID{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.puts++
	if e.failAt != 0 && e.puts == e.failAt {
		return meta.ID{}, meta.ErrNoProviders
	}
	id := meta.ID(sha256.Sum256(b))
	e.files[id] = b
	e.refs[id]++
	e.named[name]++
	if pol != nil {
		e.pols[id] = *pol
	}
	return id, nil
}

// Adopt adds a reference to a file the engine holds (as a network would:
// files are never dropped from "the network" here while referenced).
func (e *memEngine) Adopt(ctx context.Context, id meta.ID, pol *meta.Policy) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.adopts++
	if e.adoptFailAt != 0 && e.adopts == e.adoptFailAt {
		return fmt.Errorf("adopt %s: %w", id, meta.ErrUnavailable)
	}
	if _, ok := e.files[id]; !ok {
		return fmt.Errorf("adopt %s: %w", id, meta.ErrNotFound)
	}
	e.refs[id]++
	if e.adoptedWith == nil {
		e.adoptedWith = map[meta.ID]meta.Policy{}
	}
	if pol != nil {
		e.adoptedWith[id] = *pol
	}
	return nil
}

// putsNamed counts the puts of files called name.
func (e *memEngine) putsNamed(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.named[name]
}

func (e *memEngine) Release(ctx context.Context, id meta.ID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refs[id] == 0 {
		return fmt.Errorf("release %s: %w", id, meta.ErrNotFound)
	}
	e.refs[id]--
	if e.refs[id] == 0 {
		delete(e.refs, id)
		delete(e.files, id)
	}
	return nil
}

func (e *memEngine) data(id meta.ID) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.files[id]
	if !ok {
		return nil, fmt.Errorf("file %s: %w", id, meta.ErrNotFound)
	}
	return b, nil
}

func (e *memEngine) ReadAt(ctx context.Context, id meta.ID, p []byte, off int64) (int, error) {
	b, err := e.data(id)
	if err != nil {
		return 0, err
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (e *memEngine) Get(ctx context.Context, id meta.ID, w io.Writer) error {
	b, err := e.data(id)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (e *memEngine) Status(ctx context.Context, id meta.ID) (*FileStatus, error) {
	b, err := e.data(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	pol := e.pols[id]
	uploading := e.uploading
	e.mu.Unlock()
	n := (len(b) + meta.DefaultChunkSize - 1) / meta.DefaultChunkSize
	if uploading {
		return &FileStatus{File: &meta.File{ID: id, Size: int64(len(b)), ChunkSize: meta.DefaultChunkSize,
			State: meta.FileUploading, Policy: pol}, Uploaded: 0, Total: n + 1}, nil
	}
	return &FileStatus{File: &meta.File{ID: id, Size: int64(len(b)), ChunkSize: meta.DefaultChunkSize,
		State: meta.FileUploaded, Policy: pol}, Uploaded: n + 1, Total: n + 1}, nil
}

func (e *memEngine) Briefs(ctx context.Context, ids []meta.ID) ([]FileBrief, error) {
	out := make([]FileBrief, len(ids))
	for i, id := range ids {
		st, err := e.Status(ctx, id)
		if errors.Is(err, meta.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = FileBrief{Known: true, State: st.File.State, Size: st.File.Size, Pending: st.Total - st.Uploaded}
	}
	return out, nil
}

func (e *memEngine) ChunkStatus(ctx context.Context, id meta.ID, n int) (*ChunkStatus, error) {
	st, err := e.Status(ctx, id)
	if err != nil {
		return nil, err
	}
	if n < 0 || n >= st.Total-1 {
		return nil, meta.ErrNotFound
	}
	return &ChunkStatus{Index: n, State: meta.ChunkUploaded, Redundancy: st.File.Policy.Redundancy,
		Durable: st.File.Policy.Redundancy}, nil
}

func (e *memEngine) SetPolicy(ctx context.Context, id meta.ID, pol meta.Policy) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.files[id]; !ok {
		return meta.ErrNotFound
	}
	e.pols[id] = pol
	return nil
}

func (e *memEngine) DefaultPolicy() meta.Policy { return meta.DefaultPolicy(time.Now()) }

// policy returns the policy the engine holds for file id.
func (e *memEngine) policy(id meta.ID) meta.Policy {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pols[id]
}

func (e *memEngine) Cost(ctx context.Context, id meta.ID) (*big.Int, error) {
	if _, err := e.data(id); err != nil {
		return nil, err
	}
	return big.NewInt(42), nil
}

func (e *memEngine) totalRefs() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, r := range e.refs {
		n += r
	}
	return n
}

// world is an FS on a temp store and spool.
type world struct {
	t     *testing.T
	dir   string
	store *badgerdb.DB
	eng   *memEngine
	fs    *FS
	root  *node
	// tweak, when set, changes the Config of every FS the world opens.
	tweak func(*Config)
}

func newWorld(t *testing.T) *world { return newWorldWith(t, nil) }

// newWorldWith is newWorld with a Config changed by tweak.
func newWorldWith(t *testing.T, tweak func(*Config)) *world {
	w := &world{t: t, dir: t.TempDir(), eng: newMemEngine(), tweak: tweak}
	w.open()
	t.Cleanup(w.close)
	return w
}

func (w *world) open() {
	db, err := badgerdb.Open(filepath.Join(w.dir, "meta"), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.store = db
	cfg := Config{Engine: w.eng, Store: db, SpoolDir: filepath.Join(w.dir, "spool")}
	if w.tweak != nil {
		w.tweak(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	f.Start()
	w.fs = f
	r, err := f.Root()
	if err != nil {
		w.t.Fatal(err)
	}
	w.root = r.(*node)
}

func (w *world) close() {
	if w.fs != nil {
		w.fs.Close()
		w.fs = nil
	}
	if w.store != nil {
		w.store.Close()
		w.store = nil
	}
}

// crash stops the FS as a killed daemon would: its background work ends
// (so that nothing touches the store once the test closes it) with no
// drain, no last snapshot and no write of pending metadata; the store and
// the spool stay as they are.
func (w *world) crash() {
	f := w.fs
	f.cancel()
	f.up.stop()
	f.rel.once.Do(func() { close(f.rel.done) })
	f.rel.wg.Wait()
	if t := f.tree; t.enabled {
		t.once.Do(func() { close(t.done); t.cancel(); t.wg.Wait() })
	}
	f.spool.close()
	w.fs = nil
}

var ctx = context.Background()

func hdr() fuse.Header { return fuse.Header{Uid: 1000, Gid: 1000} }

func (w *world) create(d *node, name string) (*node, *handle) {
	w.t.Helper()
	n, h, err := d.Create(ctx, &fuse.CreateRequest{Header: hdr(), Name: name, Flags: fuse.OpenReadWrite, Mode: 0o644},
		&fuse.CreateResponse{})
	if err != nil {
		w.t.Fatalf("create %s: %v", name, err)
	}
	return n.(*node), h.(*handle)
}

func (w *world) open_(n *node, flags fuse.OpenFlags) *handle {
	w.t.Helper()
	h, err := n.Open(ctx, &fuse.OpenRequest{Flags: flags}, &fuse.OpenResponse{})
	if err != nil {
		w.t.Fatal(err)
	}
	return h.(*handle)
}

func (w *world) write(h *handle, off int64, data []byte) {
	w.t.Helper()
	resp := &fuse.WriteResponse{}
	if err := h.Write(ctx, &fuse.WriteRequest{Offset: off, Data: data}, resp); err != nil || resp.Size != len(data) {
		w.t.Fatalf("write: %d, %v", resp.Size, err)
	}
}

func (w *world) read(h *handle, off int64, n int) []byte {
	w.t.Helper()
	resp := &fuse.ReadResponse{Data: make([]byte, 0, n)}
	if err := h.Read(ctx, &fuse.ReadRequest{Offset: off, Size: n}, resp); err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return resp.Data
}

func (w *world) close_(h *handle) {
	w.t.Helper()
	if err := h.Flush(ctx, &fuse.FlushRequest{}); err != nil {
		w.t.Fatal(err)
	}
	if err := h.Release(ctx, &fuse.ReleaseRequest{}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) lookup(d *node, name string) (*node, error) {
	n, err := d.Lookup(ctx, &fuse.LookupRequest{Name: name}, &fuse.LookupResponse{})
	if err != nil {
		return nil, err
	}
	return n.(*node), nil
}

// settle waits until no put is queued or running and the release list is
// empty.
func (w *world) settle() {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// In this order: a put adds its release in the transaction that
		// ends it, before busy drops; a drain counts as running before it
		// takes an entry off the list and until that entry is released.
		busy := w.fs.up.busy()
		rel := true
		w.store.View(ctx, func(tx meta.Tx) (err error) { rel, err = releasesPending(tx); return err })
		if busy == 0 && !rel && w.fs.rel.running.Load() == 0 {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("puts still busy (%d) or releases pending (%v)", w.fs.up.busy(), rel)
		}
		w.fs.rel.kick()
		time.Sleep(5 * time.Millisecond)
	}
}

func (n *node) state() (meta.Node, bool, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m, n.dirty, n.local
}

func TestWritePutRead(t *testing.T) {
	w := newWorld(t)
	n, h := w.create(w.root, "a file ✓")
	w.write(h, 0, []byte("hello "))
	w.write(h, 6, []byte("world"))
	if got := w.read(h, 0, 100); string(got) != "hello world" {
		t.Fatalf("read from the spool: %q", got)
	}
	w.close_(h)
	w.settle()
	m, dirty, local := n.state()
	if dirty || local || m.Spooled || m.File.IsZero() || m.Size != 11 {
		t.Fatalf("after the put: dirty=%v local=%v %+v", dirty, local, m)
	}
	if _, err := os.Stat(w.fs.spool.path(n.ino)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spool file still there: %v", err)
	}
	// From the engine now; then a change copies it back into the spool.
	h = w.open_(n, fuse.OpenReadWrite)
	if got := w.read(h, 6, 100); string(got) != "world" {
		t.Fatalf("read from the engine: %q", got)
	}
	w.write(h, 0, []byte("HELLO"))
	if got := w.read(h, 0, 100); string(got) != "HELLO world" {
		t.Fatalf("after copy-up and write: %q", got)
	}
	w.close_(h)
	w.settle()
	m, _, _ = n.state()
	if b, _ := w.eng.data(m.File); string(b) != "HELLO world" {
		t.Fatalf("engine has %q", b)
	}
	// The first version's reference went back: one file, one reference.
	if r := w.eng.totalRefs(); r != 1 {
		t.Errorf("engine holds %d references, want 1", r)
	}
	// Truncating to zero needs no copy.
	h = w.open_(n, fuse.OpenWriteOnly)
	if err := n.Setattr(ctx, &fuse.SetattrRequest{Valid: fuse.SetattrSize, Size: 0}, &fuse.SetattrResponse{}); err != nil {
		t.Fatal(err)
	}
	w.close_(h)
	w.settle()
	m, _, _ = n.state()
	if b, err := w.eng.data(m.File); err != nil || len(b) != 0 || m.Size != 0 {
		t.Fatalf("after truncate: %q %v size %d", b, err, m.Size)
	}
}

// A file written after the expiry set on it (or on its directory when it
// was made) is put with the default term: the engine refuses a put whose
// expiry has passed, and the file would stay in the spool.
func TestPutAfterTheNodesExpiry(t *testing.T) {
	w := newWorld(t)
	n, h := w.create(w.root, "late")
	n.mu.Lock()
	n.m.Policy = meta.Policy{Redundancy: 2, Expires: time.Now().Add(-time.Hour).Truncate(time.Second)}
	n.mu.Unlock()
	w.write(h, 0, []byte("written after the date"))
	w.close_(h)
	w.settle()
	m, dirty, _ := n.state()
	if dirty || m.File.IsZero() {
		t.Fatalf("not put: dirty=%v %+v", dirty, m)
	}
	pol := w.eng.policy(m.File)
	if !pol.Expires.After(time.Now().Add(24*time.Hour)) || pol.Redundancy != 2 || pol.Autorenew {
		t.Errorf("put with policy %+v, want redundancy 2, the default term, autorenew off", pol)
	}
}

// A policy change on a version whose term has ended with autorenew off is
// kept on the node and not sent to the engine, which would refuse its
// passed expiry; an expiry in the future then applies it all.
func TestPolicyOfAnEndedVersion(t *testing.T) {
	w := newWorld(t)
	n, h := w.create(w.root, "ended")
	w.write(h, 0, []byte("kept until yesterday"))
	w.close_(h)
	w.settle()
	m, _, _ := n.state()
	ended := meta.Policy{Redundancy: 3, Expires: time.Now().Add(-24 * time.Hour).Truncate(time.Second)}
	w.eng.mu.Lock()
	w.eng.pols[m.File] = ended
	w.eng.mu.Unlock()
	set := func(name, v string) error {
		return n.Setxattr(ctx, &fuse.SetxattrRequest{Name: name, Xattr: []byte(v)})
	}
	if err := set("user.point.autorenew", "0"); err != nil {
		t.Fatal(err)
	}
	if err := set("user.point.redundancy", "4"); err != nil {
		t.Fatalf("redundancy of an ended version: %v", err)
	}
	if got := w.eng.policy(m.File); got != ended {
		t.Errorf("engine asked %+v for an ended version, want it left as %+v", got, ended)
	}
	if m, _, _ := n.state(); m.Policy.Redundancy != 4 {
		t.Errorf("node keeps redundancy %d, want 4", m.Policy.Redundancy)
	}
	if err := set("user.point.expires", "+10d"); err != nil {
		t.Fatal(err)
	}
	if got := w.eng.policy(m.File); got.Redundancy != 4 || !got.Expires.After(time.Now().Add(9*24*time.Hour)) || got.Autorenew {
		t.Errorf("after a new expiry the engine has %+v, want redundancy 4, 10 days, no autorenew", got)
	}
}

func TestSameContentTwoVersions(t *testing.T) {
	// A node that switches from A to A (same content put again) must
	// release exactly once.
	w := newWorld(t)
	n, h := w.create(w.root, "f")
	w.write(h, 0, []byte("same"))
	w.close_(h)
	w.settle()
	h = w.open_(n, fuse.OpenWriteOnly)
	w.write(h, 0, []byte("same"))
	w.close_(h)
	w.settle()
	if r := w.eng.totalRefs(); r != 1 {
		t.Fatalf("references %d, want 1", r)
	}
}

func TestUnlinkOpenAndRenameOver(t *testing.T) {
	w := newWorld(t)
	a, ha := w.create(w.root, "a")
	w.write(ha, 0, []byte("aaa"))
	b, hb := w.create(w.root, "b")
	w.write(hb, 0, []byte("bbb"))
	w.close_(hb)
	w.settle()

	// Rename a over b while b is open for reading.
	hb = w.open_(b, fuse.OpenReadOnly)
	if err := w.root.Rename(ctx, &fuse.RenameRequest{OldName: "a", NewName: "b"}, w.root); err != nil {
		t.Fatal(err)
	}
	if got := w.read(hb, 0, 10); string(got) != "bbb" {
		t.Fatalf("open file renamed over reads %q", got)
	}
	var attr fuse.Attr
	b.Attr(ctx, &attr)
	if attr.Nlink != 0 {
		t.Errorf("nlink of the replaced file %d, want 0", attr.Nlink)
	}
	if n, err := w.lookup(w.root, "b"); err != nil || n != a {
		t.Fatalf("b is now %v, %v; want the node of a", n, err)
	}
	if _, err := w.lookup(w.root, "a"); Errno(err) != fuse.Errno(syscall.ENOENT) {
		t.Fatalf("a after rename: %v", err)
	}
	w.close_(hb) // last handle of the replaced file: it goes
	w.close_(ha)
	w.settle()
	if r := w.eng.totalRefs(); r != 1 {
		t.Errorf("references %d, want 1 (only the renamed file)", r)
	}
	var orphans []meta.Inode
	w.store.View(ctx, func(tx meta.Tx) error { return getList(tx, keyOrphans, &orphans) })
	if len(orphans) != 0 {
		t.Errorf("orphans left: %v", orphans)
	}
}

func TestDirectories(t *testing.T) {
	w := newWorld(t)
	d1, err := w.root.Mkdir(ctx, &fuse.MkdirRequest{Header: hdr(), Name: "d1", Mode: os.ModeDir | 0o755})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := w.root.Mkdir(ctx, &fuse.MkdirRequest{Header: hdr(), Name: "d2", Mode: os.ModeDir | 0o700})
	if err != nil {
		t.Fatal(err)
	}
	dd1, dd2 := d1.(*node), d2.(*node)
	_, h := w.create(dd1, "x")
	w.close_(h)
	if err := w.root.Remove(ctx, &fuse.RemoveRequest{Name: "d1", Dir: true}); Errno(err) != fuse.Errno(syscall.ENOTEMPTY) {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	if err := w.root.Remove(ctx, &fuse.RemoveRequest{Name: "d1"}); Errno(err) != fuse.Errno(syscall.EISDIR) {
		t.Fatalf("unlink a directory: %v", err)
	}
	if _, err := w.root.Mkdir(ctx, &fuse.MkdirRequest{Header: hdr(), Name: "d1", Mode: os.ModeDir | 0o755}); Errno(err) != fuse.Errno(syscall.EEXIST) {
		t.Fatalf("mkdir existing: %v", err)
	}
	// Move x across directories, then the directory d1 into d2.
	if err := dd1.Rename(ctx, &fuse.RenameRequest{OldName: "x", NewName: "y"}, dd2); err != nil {
		t.Fatal(err)
	}
	if err := w.root.Rename(ctx, &fuse.RenameRequest{OldName: "d1", NewName: "d1"}, dd2); err != nil {
		t.Fatal(err)
	}
	nl := func(n *node) uint32 { m, _, _ := n.state(); return m.Nlink }
	if nl(w.root) != 3 || nl(dd2) != 3 || nl(dd1) != 2 {
		t.Errorf("nlink root %d d2 %d d1 %d, want 3 3 2", nl(w.root), nl(dd2), nl(dd1))
	}
	ents, err := dd2.ReadDirAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != ".,..,d1,y" {
		t.Errorf("d2 lists %v", names)
	}
	if err := dd2.Remove(ctx, &fuse.RemoveRequest{Name: "d1", Dir: true}); err != nil {
		t.Fatal(err)
	}
	if nl(dd2) != 2 {
		t.Errorf("nlink of d2 after rmdir %d", nl(dd2))
	}
	// Names: too long, with spaces and unicode.
	long := strings.Repeat("x", 256)
	if _, err := w.root.Mkdir(ctx, &fuse.MkdirRequest{Header: hdr(), Name: long}); Errno(err) != fuse.Errno(syscall.ENAMETOOLONG) {
		t.Errorf("256-byte name: %v", err)
	}
	if _, err := w.root.Symlink(ctx, &fuse.SymlinkRequest{Header: hdr(), NewName: "lien ↗", Target: "d2/y"}); err != nil {
		t.Fatal(err)
	}
	l, _ := w.lookup(w.root, "lien ↗")
	if tgt, err := l.Readlink(ctx, &fuse.ReadlinkRequest{}); err != nil || tgt != "d2/y" {
		t.Errorf("readlink %q %v", tgt, err)
	}
}

func TestRecoverAfterCrash(t *testing.T) {
	w := newWorld(t)
	// Hold the uploader so that the put never happens before the "crash".
	w.fs.up.stop()
	n, h := w.create(w.root, "pending")
	w.write(h, 0, bytes.Repeat([]byte("z"), 5000))
	w.close_(h)
	g, hg := w.create(w.root, "gone")
	w.write(hg, 0, []byte("tmp"))
	if err := w.root.Remove(ctx, &fuse.RemoveRequest{Name: "gone"}); err != nil {
		t.Fatal(err)
	}
	_ = g
	// Crash: the store and the spool stay as they are.
	w.crash()
	w.store.Close()
	w.store = nil

	w.open()
	w.settle()
	p, err := w.lookup(w.root, "pending")
	if err != nil {
		t.Fatal(err)
	}
	m, dirty, _ := p.state()
	if dirty || m.Spooled || m.File.IsZero() || m.Size != 5000 || p.ino != n.ino {
		t.Fatalf("after recovery: dirty=%v %+v", dirty, m)
	}
	if b, _ := w.eng.data(m.File); len(b) != 5000 {
		t.Fatalf("engine has %d bytes", len(b))
	}
	if _, err := os.Stat(w.fs.spool.path(g.ino)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spool file of the unlinked file survived recovery")
	}
	err = w.store.View(ctx, func(tx meta.Tx) error { _, err := tx.Node(g.ino); return err })
	if !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("record of the unlinked open file after recovery: %v", err)
	}
}

func TestPutFailureRetries(t *testing.T) {
	w := newWorld(t)
	w.eng.failAt = 1
	n, h := w.create(w.root, "f")
	w.write(h, 0, []byte("data"))
	w.close_(h)
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, dirty, _ := n.state()
		if !dirty && !m.File.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the put was not retried")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestXattrs(t *testing.T) {
	w := newWorld(t)
	n, h := w.create(w.root, "f")
	w.write(h, 0, bytes.Repeat([]byte{1}, 600<<10)) // 3 chunks
	get := func(n *node, name string) (string, error) {
		resp := &fuse.GetxattrResponse{}
		err := n.Getxattr(ctx, &fuse.GetxattrRequest{Name: name}, resp)
		return string(resp.Xattr), err
	}
	list := func(n *node) string {
		resp := &fuse.ListxattrResponse{}
		if err := n.Listxattr(ctx, &fuse.ListxattrRequest{}, resp); err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(resp.Xattr), "\x00", " ")
	}
	if v, _ := get(n, "user.point.status"); v != "created" {
		t.Errorf("status while written: %q", v)
	}
	if v, _ := get(n, "user.point.id"); v != "" {
		t.Errorf("id while in the spool: %q", v)
	}
	if v, _ := get(n, "user.point.chunks"); v != "uploaded 0/4" {
		t.Errorf("chunks while in the spool: %q", v)
	}
	before := list(n)
	w.close_(h)
	w.settle()
	if after := list(n); after != before {
		t.Errorf("listing changed with the put:\n%s\n%s", before, after)
	}
	if !strings.Contains(before, "user.point.chunk.2 ") || strings.Contains(before, "chunk.3") {
		t.Errorf("listing: %s", before)
	}
	for name, want := range map[string]string{
		"user.point.status": "uploaded", "user.point.size": "614400", "user.point.chunks": "uploaded 4/4",
		"user.point.redundancy": "3", "user.point.autorenew": "true", "user.point.cost": "42",
	} {
		if v, err := get(n, name); v != want || err != nil {
			t.Errorf("%s = %q, %v; want %q", name, v, err, want)
		}
	}
	for _, name := range []string{"user.point.xyz", "user.point.chunk.3", "user.point.chunk.01", "user.other"} {
		if _, err := get(n, name); err != fuse.ErrNoXattr {
			t.Errorf("%s: %v, want ENODATA", name, err)
		}
	}
	set := func(n *node, name, v string) error {
		return n.Setxattr(ctx, &fuse.SetxattrRequest{Name: name, Xattr: []byte(v)})
	}
	if err := set(n, "user.point.redundancy", "5"); err != nil {
		t.Fatal(err)
	}
	m, _, _ := n.state()
	if w.eng.pols[m.File].Redundancy != 5 {
		t.Errorf("engine policy %+v", w.eng.pols[m.File])
	}
	if v, _ := get(n, "user.point.redundancy"); v != "5" {
		t.Errorf("redundancy %q", v)
	}
	for name, v := range map[string]string{"user.point.redundancy": "0", "user.point.expires": "2001-01-01",
		"user.point.autorenew": "maybe"} {
		if err := set(n, name, v); Errno(err) != fuse.Errno(syscall.EINVAL) {
			t.Errorf("set %s=%s: %v", name, v, err)
		}
	}
	if err := set(n, "user.point.id", "x"); Errno(err) != fuse.Errno(syscall.ENOTSUP) {
		t.Errorf("set id: %v", err)
	}
	if err := set(n, "user.mine", "v"); err != nil {
		t.Fatal(err)
	}
	if v, _ := get(n, "user.mine"); v != "v" {
		t.Errorf("user.mine %q", v)
	}
	if err := n.Setxattr(ctx, &fuse.SetxattrRequest{Name: "user.mine", Xattr: []byte("w"), Flags: xattrCreate}); Errno(err) != fuse.Errno(syscall.EEXIST) {
		t.Errorf("XATTR_CREATE on existing: %v", err)
	}
	if err := n.Removexattr(ctx, &fuse.RemovexattrRequest{Name: "user.mine"}); err != nil {
		t.Fatal(err)
	}
	if err := n.Removexattr(ctx, &fuse.RemovexattrRequest{Name: "user.mine"}); err != fuse.ErrNoXattr {
		t.Errorf("remove missing: %v", err)
	}
	// Directories: aggregate and inherit.
	d, _ := w.root.Mkdir(ctx, &fuse.MkdirRequest{Header: hdr(), Name: "d", Mode: os.ModeDir | 0o755})
	dn := d.(*node)
	if err := set(dn, "user.point.redundancy", "2"); err != nil {
		t.Fatal(err)
	}
	c, hc := w.create(dn, "c")
	w.write(hc, 0, []byte("c"))
	if v, _ := get(dn, "user.point.status"); v != "created" {
		t.Errorf("dir status with a file in the spool: %q", v)
	}
	if v, _ := get(dn, "user.point.pending"); v != "files=1 chunks=2 bytes=1" {
		t.Errorf("pending %q", v)
	}
	w.close_(hc)
	w.settle()
	if v, _ := get(c, "user.point.redundancy"); v != "2" {
		t.Errorf("inherited redundancy %q", v)
	}
	if v, _ := get(w.root, "user.point.status"); v != "uploaded" {
		t.Errorf("root status %q", v)
	}
}

func TestErrno(t *testing.T) {
	for _, c := range []struct {
		err  error
		want syscall.Errno
	}{
		{fmt.Errorf("x: %w", meta.ErrNotFound), syscall.ENOENT},
		{meta.ErrExists, syscall.EEXIST},
		{meta.ErrNotEmpty, syscall.ENOTEMPTY},
		{meta.ErrNoSpace, syscall.ENOSPC},
		{&os.PathError{Op: "write", Path: "p", Err: syscall.ENOSPC}, syscall.ENOSPC},
		{meta.ErrUnavailable, syscall.EIO},
		{meta.ErrCorrupt, syscall.EIO},
		{meta.ErrInvalid, syscall.EINVAL},
		{context.DeadlineExceeded, syscall.ETIMEDOUT},
		{errors.New("anything"), syscall.EIO},
		{fuse.ErrNoXattr, syscall.ENODATA},
		{fmt.Errorf("x: %w", meta.ErrReadOnly), syscall.EROFS},
	} {
		if got := Errno(c.err); got != fuse.Errno(c.want) {
			t.Errorf("Errno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if Errno(nil) != nil {
		t.Error("Errno(nil) is not nil")
	}
}

func TestParseExpiry(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2025-03-01T10:00:00Z": time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
		"2025-03-01":           time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		"+30d":                 now.Add(30 * 24 * time.Hour),
		"+36h":                 now.Add(36 * time.Hour),
		"1767225600":           time.Unix(1767225600, 0),
	} {
		got, err := ParseExpiry(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseExpiry(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "+0d", "+-1h"} {
		if _, err := ParseExpiry(in, now); err == nil {
			t.Errorf("ParseExpiry(%q) accepted", in)
		}
	}
}

func TestFormatChunk(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cs := &ChunkStatus{State: meta.ChunkUploading, Durable: 1, Redundancy: 3, ID: meta.ID{0xab}, Repairing: true, Links: []*meta.Link{
		{Provider: "peerA", State: meta.LinkSigned, Expires: now.Add(time.Hour), LastAudit: &meta.Audit{At: now, OK: true}},
		{Provider: "peerB", State: meta.LinkSendingData},
		{Provider: "peerC", State: meta.LinkFailed, Error: "declined"},
		{Provider: "peerD", State: meta.LinkFailed, Error: "audit: bad", LastAudit: &meta.Audit{At: now}},
	}}
	want := "uploading 1/3 ab00000000000000000000000000000000000000000000000000000000000000 repairing\n" +
		"peerA signed 2025-01-01T01:00:00Z audit ok 2025-01-01T00:00:00Z\npeerB sending_data\npeerC failed (declined)\n" +
		"peerD failed (audit: bad) audit failed 2025-01-01T00:00:00Z"
	if got := FormatChunk(cs, now); got != want {
		t.Errorf("FormatChunk:\n%s\nwant\n%s", got, want)
	}
}

func TestAggregateStatus(t *testing.T) {
	for _, c := range []struct {
		a    Aggregate
		want string
	}{
		{Aggregate{}, "uploaded"},
		{Aggregate{Files: 2, Uploaded: 2}, "uploaded"},
		{Aggregate{Files: 2, Uploaded: 1, Created: 1}, "created"},
		{Aggregate{Files: 3, Uploaded: 1, Created: 1, Uploading: 1}, "uploading"},
		{Aggregate{Files: 2, Failed: 1, Uploading: 1}, "failed"},
	} {
		if got := c.a.Status(); got != c.want {
			t.Errorf("%+v: %s, want %s", c.a, got, c.want)
		}
	}
}

func TestSpoolIsLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := openSpool(dir); err == nil {
		t.Fatal("a second FS could take the same spool")
	}
}

// A removed spool file is emptied and kept for the next create (no inode
// is freed and allocated again), at most maxSpoolFree of them, and the
// free files of a previous run are reused after a restart. None of them
// counts as a spooled inode.
func TestSpoolReusesRemovedFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	inode := func(p string) uint64 {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	f, err := s.create(7)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("old content")
	f.Close()
	was := inode(s.path(7))
	s.remove(7)
	if _, err := os.Stat(s.path(7)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spool file of a removed inode: %v", err)
	}
	f, err = s.create(8)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(f); err != nil || len(got) != 0 {
		t.Fatalf("reused spool file holds %q, %v; want it empty", got, err)
	}
	f.Close()
	if now := inode(s.path(8)); now != was {
		t.Errorf("create made inode %d; want the removed file's %d", now, was)
	}

	// Many removals: only maxSpoolFree are kept.
	defer func(n int) { maxSpoolFree = n }(maxSpoolFree)
	maxSpoolFree = 64
	for i := range maxSpoolFree + 10 {
		f, err := s.create(meta.Inode(100 + i))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	for i := range maxSpoolFree + 10 {
		s.remove(meta.Inode(100 + i))
	}
	free, _ := os.ReadDir(filepath.Join(dir, spoolFreeDir))
	if len(free) != maxSpoolFree {
		t.Errorf("%d free files, want %d", len(free), maxSpoolFree)
	}
	if inos, err := s.list(); err != nil || len(inos) != 1 || inos[0] != 8 {
		t.Errorf("spooled inodes %v, %v; want [8]", inos, err)
	}
	s.close()

	s, err = openSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	kept := make(map[uint64]bool)
	for _, e := range free {
		kept[inode(filepath.Join(dir, spoolFreeDir, e.Name()))] = true
	}
	f, err = s.create(9)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !kept[inode(s.path(9))] {
		t.Error("after a restart, create did not take a free file")
	}
	s.remove(9)
	if _, err := os.Stat(s.path(9)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spool file of a removed inode: %v", err)
	}
}

func TestLostSpool(t *testing.T) {
	w := newWorld(t)
	a, ha := w.create(w.root, "put once")
	w.write(ha, 0, []byte("version one"))
	w.close_(ha)
	w.settle()
	w.fs.up.stop()
	ha = w.open_(a, fuse.OpenReadWrite)
	w.write(ha, 0, []byte("VERSION TWO, longer"))
	w.close_(ha)
	b, hb := w.create(w.root, "never put")
	w.write(hb, 0, []byte("lost"))
	w.close_(hb)
	// Crash, and the spool does not survive it (a tmpfs after a reboot).
	w.crash()
	w.store.Close()
	w.store = nil
	os.RemoveAll(filepath.Join(w.dir, "spool"))

	w.open()
	na, err := w.lookup(w.root, "put once")
	if err != nil {
		t.Fatal(err)
	}
	nb, err := w.lookup(w.root, "never put")
	if err != nil {
		t.Fatal(err)
	}
	w.settle()
	if m, dirty, _ := na.state(); dirty || m.Spooled || m.Size != int64(len("version one")) {
		t.Errorf("file with a previous version: dirty=%v %+v", dirty, m)
	}
	h := w.open_(na, fuse.OpenReadOnly)
	if got := w.read(h, 0, 100); string(got) != "version one" {
		t.Errorf("falls back to %q", got)
	}
	w.close_(h)
	if m, dirty, _ := nb.state(); dirty || m.Spooled || m.Size != 0 {
		t.Errorf("file never put: dirty=%v %+v", dirty, m)
	}
	_, _ = a, b
}

func TestChangedDuringPut(t *testing.T) {
	w := newWorld(t)
	w.eng.gate, w.eng.inPut = make(chan struct{}), make(chan struct{}, 4)
	n, h := w.create(w.root, "f")
	w.write(h, 0, []byte("one"))
	w.close_(h)
	<-w.eng.inPut // the put of "one" has read the spool and waits
	h = w.open_(n, fuse.OpenReadWrite)
	w.write(h, 0, []byte("two!"))
	w.close_(h)
	w.eng.gate <- struct{}{}
	<-w.eng.inPut // the node took "one" and puts "two!" now
	m, dirty, _ := n.state()
	if b, _ := w.eng.data(m.File); string(b) != "one" || !dirty || !m.Spooled {
		t.Errorf("after the first put: %q dirty=%v spooled=%v", b, dirty, m.Spooled)
	}
	w.eng.gate <- struct{}{}
	w.settle()
	m, dirty, _ = n.state()
	if b, _ := w.eng.data(m.File); string(b) != "two!" || dirty || m.Spooled {
		t.Errorf("after the second put: %q dirty=%v spooled=%v", b, dirty, m.Spooled)
	}
	if r := w.eng.totalRefs(); r != 1 {
		t.Errorf("references %d, want 1", r)
	}
}

func TestListingServesLookups(t *testing.T) {
	w := newWorld(t)
	a, ha := w.create(w.root, "a")
	w.close_(ha)
	w.settle()
	if _, err := w.root.ReadDirAll(ctx); err != nil {
		t.Fatal(err)
	}
	// Change a after the listing, then let it leave the cache: the
	// listing's record of a is stale and must not be used.
	if err := a.Setattr(ctx, &fuse.SetattrRequest{Valid: fuse.SetattrMode, Mode: 0o600}, &fuse.SetattrResponse{}); err != nil {
		t.Fatal(err)
	}
	w.fs.mu.Lock()
	a.lookedUp = time.Time{}
	w.fs.mu.Unlock()
	a.Forget()
	w.fs.mu.Lock()
	_, cached := w.fs.nodes[a.ino]
	w.fs.mu.Unlock()
	if cached {
		t.Fatal("an idle node stayed in the cache after Forget")
	}
	got, err := w.lookup(w.root, "a")
	if err != nil {
		t.Fatal(err)
	}
	if m, _, _ := got.state(); m.Mode.Perm() != 0o600 {
		t.Errorf("lookup after the listing served a stale record: mode %v", m.Mode)
	}
	// A name created after the listing is found; a removed one is not.
	if _, err := w.root.ReadDirAll(ctx); err != nil {
		t.Fatal(err)
	}
	_, hb := w.create(w.root, "b")
	w.close_(hb)
	if _, err := w.lookup(w.root, "b"); err != nil {
		t.Errorf("lookup of a name created after the listing: %v", err)
	}
	if _, err := w.root.ReadDirAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.root.Remove(ctx, &fuse.RemoveRequest{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.lookup(w.root, "a"); Errno(err) != fuse.Errno(syscall.ENOENT) {
		t.Errorf("lookup of a name removed after the listing: %v", err)
	}
}
