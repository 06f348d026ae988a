package fs_test

// A read-only mount of a restored tree. The daemon is this test binary run
// again (TestMain sees roDaemonEnv): it restores the tree from a
// file-backed engine into a fresh store, then serves it read-only, in its
// own process (a process must never touch a mount it serves).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pointfs/pointfs/fs"
	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/badgerdb"
	"github.com/pointfs/pointfs/meta/chunkinfo"
	"github.com/pointfs/pointfs/meta/merkle"
)

// roDaemonEnv, when set (to "DIR MOUNTPOINT ROOT SEQ"), makes the test
// binary the read-only daemon.
const roDaemonEnv = "POINTFS_FS_TEST_RO_DAEMON"

// fileEngine is an fs.Engine that keeps each file in a file of its own,
// named by its id, so that two processes share it. Every file is
// "uploaded".
type fileEngine struct{ dir string }

func (e fileEngine) path(id meta.ID) string { return filepath.Join(e.dir, id.String()) }

func (e fileEngine) Put(ctx context.Context, r io.Reader, name string, pol *meta.Policy) (meta.ID, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return meta.ID{}, err
	}
	id := merkle.Keccak256(b)
	return id, os.WriteFile(e.path(id), b, 0o600)
}

func (e fileEngine) Release(ctx context.Context, id meta.ID) error { return nil }

func (e fileEngine) Adopt(ctx context.Context, id meta.ID, _ *meta.Policy) error {
	_, err := e.Status(ctx, id)
	return err
}

func (e fileEngine) open(id meta.ID) (*os.File, error) {
	f, err := os.Open(e.path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("file %s: %w", id, meta.ErrNotFound)
	}
	return f, err
}

func (e fileEngine) ReadAt(ctx context.Context, id meta.ID, p []byte, off int64) (int, error) {
	f, err := e.open(id)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.ReadAt(p, off)
}

func (e fileEngine) Get(ctx context.Context, id meta.ID, w io.Writer) error {
	f, err := e.open(id)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func (e fileEngine) Status(ctx context.Context, id meta.ID) (*fs.FileStatus, error) {
	st, err := os.Stat(e.path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("file %s: %w", id, meta.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &fs.FileStatus{File: &meta.File{ID: id, Size: st.Size(), ChunkSize: meta.DefaultChunkSize,
		State: meta.FileUploaded, Policy: e.DefaultPolicy()}, Uploaded: 1, Total: 1}, nil
}

func (e fileEngine) Briefs(ctx context.Context, ids []meta.ID) ([]fs.FileBrief, error) {
	out := make([]fs.FileBrief, len(ids))
	for i, id := range ids {
		st, err := e.Status(ctx, id)
		if errors.Is(err, meta.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = fs.FileBrief{Known: true, State: st.File.State, Size: st.File.Size}
	}
	return out, nil
}

func (e fileEngine) ChunkStatus(ctx context.Context, id meta.ID, n int) (*fs.ChunkStatus, error) {
	return nil, meta.ErrNotFound
}

func (e fileEngine) SetPolicy(ctx context.Context, id meta.ID, pol meta.Policy) error { return nil }

func (e fileEngine) DefaultPolicy() meta.Policy { return meta.DefaultPolicy(time.Now()) }

func (e fileEngine) Cost(ctx context.Context, id meta.ID) (*big.Int, error) {
	return big.NewInt(0), nil
}

// roDaemon restores the tree and serves it read-only until unmounted.
func roDaemon(spec string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	fail := func(err error) int {
		log.Error("read-only daemon", "err", err)
		return 1
	}
	var dir, mnt, rootHex string
	var seq uint64
	if _, err := fmt.Sscan(spec, &dir, &mnt, &rootHex, &seq); err != nil {
		return fail(fmt.Errorf("%s=%q: %w", roDaemonEnv, spec, err))
	}
	root, err := meta.ParseID(rootHex)
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	db, err := badgerdb.Open(filepath.Join(dir, "meta"), log)
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	eng := fileEngine{filepath.Join(dir, "engine")}
	if err := fs.Restore(ctx, db, eng, root, seq, log); err != nil {
		return fail(err)
	}
	f, err := fs.New(fs.Config{Engine: eng, Store: db, SpoolDir: filepath.Join(dir, "spool"), Logger: log, ReadOnly: true})
	if err != nil {
		return fail(err)
	}
	m, err := fs.Mount(mnt, f)
	if err != nil {
		f.Close()
		return fail(err)
	}
	fmt.Println("ready")
	serr := m.Serve()
	if err := errors.Join(serr, f.Close()); err != nil {
		return fail(err)
	}
	return 0
}

// TestReadOnlyRestoredMount restores a tree made of directory chunkinfos
// and serves it read-only: reads, modes, times, symlinks and xattrs work,
// every change fails with EROFS.
func TestReadOnlyRestoredMount(t *testing.T) {
	needFUSE(t)
	dir, err := os.MkdirTemp(testTmp, "TestReadOnlyRestoredMount-")
	if err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "mnt")
	eng := fileEngine{filepath.Join(dir, "engine")}
	for _, d := range []string{mnt, eng.dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	put := func(b []byte) meta.ID {
		id, err := eng.Put(ctx, bytes.NewReader(b), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	hello := []byte("hello, restored world\n")
	large := randomBytes(7, 3<<20+5)
	mtime := time.Date(2020, 5, 6, 7, 8, 9, 123456789, time.UTC)
	sub := put(chunkinfo.EncodeDir([]chunkinfo.DirEntry{
		{Type: chunkinfo.TypeFilePtr, Name: "large.bin", Size: int64(len(large)), ID: put(large), Mode: 0o600, Mtime: mtime.UnixNano()},
	}))
	root := put(chunkinfo.EncodeDir([]chunkinfo.DirEntry{
		{Type: chunkinfo.TypeFilePtr, Name: "hello ✓.txt", Size: int64(len(hello)), ID: put(hello), Mode: 0o644, Mtime: mtime.UnixNano()},
		{Type: chunkinfo.TypeSymlink, Name: "link", Size: int64(len("sub/large.bin")), Target: "sub/large.bin"},
		{Type: chunkinfo.TypeDirPtr, Name: "sub", ID: sub, Mode: 0o750, Mtime: mtime.UnixNano()},
	}))

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %d", roDaemonEnv, dir, mnt, root, 7))
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the daemon exited, with its error in exitErr
	var exitErr error
	ready := make(chan bool, 1)
	go func() {
		defer close(exited)
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
		io.Copy(io.Discard, out)
		exitErr = cmd.Wait()
	}()
	t.Cleanup(func() {
		if isMounted(mnt) {
			exec.Command("fusermount3", "-u", "-z", mnt).Run()
		}
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("the read-only daemon did not start:\n%s", stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the read-only daemon is not ready after a minute:\n%s", stderr.String())
	}
	if !isMounted(mnt) {
		t.Fatal("not mounted")
	}
	if !mountedReadOnly(mnt) {
		t.Error("/proc/mounts does not say ro")
	}

	// Reads.
	p := func(name string) string { return filepath.Join(mnt, name) }
	if b, err := os.ReadFile(p("hello ✓.txt")); err != nil || !bytes.Equal(b, hello) {
		t.Errorf("read hello: %q %v", b, err)
	}
	cmpFile(t, p("sub/large.bin"), large)
	cmpFile(t, p("link"), large)
	if tgt, err := os.Readlink(p("link")); err != nil || tgt != "sub/large.bin" {
		t.Errorf("readlink: %q %v", tgt, err)
	}
	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != "hello ✓.txt,link,sub" {
		t.Errorf("the root lists %s", got)
	}
	for name, want := range map[string]os.FileMode{"hello ✓.txt": 0o644, "sub": os.ModeDir | 0o750, "sub/large.bin": 0o600} {
		st, err := os.Stat(p(name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want || !st.ModTime().Equal(mtime) {
			t.Errorf("%s: mode %v mtime %v, want %v %v", name, st.Mode(), st.ModTime(), want, mtime)
		}
		if !st.IsDir() && st.Size() == 0 {
			t.Errorf("%s: size 0", name)
		}
	}
	if inPath("getfattr") {
		for name, want := range map[string]string{"user.point.seq": "7", "user.point.id": root.String()} {
			if v, err := getfattr(t, name, mnt); err != nil || v != want {
				t.Errorf("%s of the root = %q %v, want %q", name, v, err, want)
			}
		}
		if v, err := getfattr(t, "user.point.id", p("sub")); err != nil || v != sub.String() {
			t.Errorf("user.point.id of sub = %q %v, want %s", v, err, sub)
		}
		if v, err := getfattr(t, "user.point.status", p("hello ✓.txt")); err != nil || v != "uploaded" {
			t.Errorf("user.point.status = %q %v", v, err)
		}
	}

	// Writes.
	erofs := func(what string, err error) {
		t.Helper()
		if errnoOf(err) != syscall.EROFS {
			t.Errorf("%s: %v, want EROFS", what, err)
		}
	}
	erofs("create", os.WriteFile(p("new"), []byte("x"), 0o644))
	_, err = os.OpenFile(p("hello ✓.txt"), os.O_WRONLY, 0)
	erofs("open for writing", err)
	_, err = os.OpenFile(p("hello ✓.txt"), os.O_RDWR|os.O_APPEND, 0)
	erofs("open read-write", err)
	erofs("truncate", os.Truncate(p("hello ✓.txt"), 0))
	erofs("mkdir", os.Mkdir(p("d"), 0o755))
	erofs("symlink", os.Symlink("x", p("l2")))
	erofs("link", os.Link(p("hello ✓.txt"), p("l3")))
	erofs("unlink", os.Remove(p("hello ✓.txt")))
	erofs("rmdir", os.Remove(p("sub")))
	erofs("rename", os.Rename(p("hello ✓.txt"), p("renamed")))
	erofs("chmod", os.Chmod(p("hello ✓.txt"), 0o600))
	erofs("utimes", os.Chtimes(p("hello ✓.txt"), time.Now(), time.Now()))
	erofs("mkfifo", syscall.Mkfifo(p("fifo"), 0o644))
	erofs("setxattr", syscall.Setxattr(p("hello ✓.txt"), "user.x", []byte("1"), 0))
	erofs("setxattr user.point.redundancy", syscall.Setxattr(p("hello ✓.txt"), "user.point.redundancy", []byte("5"), 0))
	erofs("removexattr", syscall.Removexattr(p("hello ✓.txt"), "user.x"))
	// Still intact.
	if b, err := os.ReadFile(p("hello ✓.txt")); err != nil || !bytes.Equal(b, hello) {
		t.Errorf("read hello after the refused changes: %q %v", b, err)
	}

	if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u: %v: %s", err, out)
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("the read-only daemon: %v\n%s", exitErr, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the read-only daemon did not exit after the unmount:\n%s", stderr.String())
	}
}

// lockedBuffer is a bytes.Buffer that a process's output goroutine and
// the test may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mountedReadOnly reports whether /proc/mounts lists mp with "ro".
func mountedReadOnly(mp string) bool {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && unescapeMount(f[1]) == mp {
			for _, o := range strings.Split(f[3], ",") {
				if o == "ro" {
					return true
				}
			}
		}
	}
	return false
}
