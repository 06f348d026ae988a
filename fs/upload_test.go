package fs_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// uploadTimeout is how long a test waits for the embedded devnet to sign a
// file's chunks: generous, the machine may be busy.
const uploadTimeout = 3 * time.Minute

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", src, path).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
}

func cmpFile(t testing.TB, path string, want []byte) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "want")
	if err := os.WriteFile(src, want, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cmp", src, path).CombinedOutput(); err != nil {
		t.Fatalf("cmp %s: %v: %s", path, err, out)
	}
}

// TestCopyUploadRemount: cp a 20 MiB file in, watch it become durable with
// getfattr, check every chunk's signed links, unmount, mount again, cmp.
func TestCopyUploadRemount(t *testing.T) {
	needAttr(t)
	in := newInstance(t)
	in.mount()
	data := randomBytes(20, 20<<20)
	p := in.path("big file ✓.bin")
	writeFile(t, p, data)

	waitXattr(t, p, "user.point.status", uploadTimeout, func(v string) bool {
		if v == "failed" {
			t.Fatalf("upload failed: %s", in.logTail())
		}
		return v == "uploaded"
	})
	chunks, err := getfattr(t, "user.point.chunks", p)
	if err != nil {
		t.Fatal(err)
	}
	// 80 data chunks of 256 KiB and the chunkinfo.
	if chunks != "uploaded 81/81" {
		t.Errorf("user.point.chunks = %q, want uploaded 81/81", chunks)
	}
	red, err := getfattr(t, "user.point.redundancy", p)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := strconv.Atoi(red)
	for i := 0; i < 80; i++ {
		v, err := getfattr(t, "user.point.chunk."+strconv.Itoa(i), p)
		if err != nil {
			t.Fatal(err)
		}
		if got := signedLinks(v); got < want {
			t.Errorf("chunk %d has %d signed links, want %d:\n%s", i, got, want, v)
		}
	}
	if _, err := getfattr(t, "user.point.chunk.80", p); err == nil || !strings.Contains(err.Error(), "No such attribute") {
		t.Errorf("chunk.80 of an 80-chunk file: %v, want No such attribute", err)
	}
	id, _ := getfattr(t, "user.point.id", p)
	if len(id) != 64 {
		t.Errorf("user.point.id = %q", id)
	}
	// The root says uploaded once the tree naming the file is published
	// too (a snapshot a few seconds after the last change).
	waitXattr(t, in.mnt, "user.point.status", uploadTimeout, func(v string) bool {
		if v == "failed" {
			t.Fatalf("root status failed: %s", in.logTail())
		}
		return v == "uploaded"
	})

	in.unmount()
	in.mount()
	cmpFile(t, p, data)
	if id2, _ := getfattr(t, "user.point.id", p); id2 != id {
		t.Errorf("id after remount %q, want %q", id2, id)
	}
	in.unmount()
}

// TestKillMidUpload: SIGKILL the daemon right after close() of a big file
// returned; the next mount on the same data dir puts it again, the upload
// completes and the content is intact.
func TestKillMidUpload(t *testing.T) {
	needAttr(t)
	in := newInstance(t)
	in.mount()
	data := randomBytes(64, 48<<20)
	small := []byte("written before the crash\n")
	if err := os.WriteFile(in.path("small"), small, 0o644); err != nil {
		t.Fatal(err)
	}
	p := in.path("big")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := getfattr(t, "user.point.status", p)
	in.kill() // close() returned: the data must survive
	t.Logf("status when killed: %s", before)
	if _, err := os.ReadDir(in.mnt); !errors.Is(err, syscall.ENOTCONN) && !errors.Is(err, syscall.ECONNABORTED) {
		t.Fatalf("listing the dead mount: %v, want ENOTCONN or ECONNABORTED", err)
	}

	in.mount()
	if strings.Contains(in.logTail(), "resuming the upload of a spooled file") {
		t.Log("the restarted daemon put the spooled file again")
	}
	cmpFile(t, in.path("small"), small)
	cmpFile(t, p, data)
	waitXattr(t, p, "user.point.status", uploadTimeout, func(v string) bool { return v == "uploaded" })
	in.unmount()
	in.mount()
	cmpFile(t, p, data)
	in.unmount()
}

// TestSpoolFull: with the spool on a 16 MiB tmpfs a writer gets ENOSPC, and
// the files closed before stay intact and readable.
func TestSpoolFull(t *testing.T) {
	needFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	in := newInstance(t)
	in.spool = filepath.Join(filepath.Dir(in.data), "spool")
	if err := os.MkdirAll(in.spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", in.spool).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		for isMounted(in.spool) {
			if err := exec.Command("umount", in.spool).Run(); err != nil {
				exec.Command("umount", "-l", in.spool).Run()
			}
		}
	})
	in.mount()

	var earlier [][]byte
	for i := range 4 {
		d := randomBytes(int64(100+i), 2<<20)
		earlier = append(earlier, d)
		if err := os.WriteFile(in.path("early"+strconv.Itoa(i)), d, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Fill the spool: the error comes from write, fsync or close (with
	// the writeback cache, the kernel sends the data when it flushes).
	f, err := os.Create(in.path("too big"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := randomBytes(7, 1<<20)
	var werr error
	for i := 0; i < 64 && werr == nil; i++ {
		_, werr = f.Write(chunk)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("writing 64 MiB into a 16 MiB spool: %v, want ENOSPC", werr)
	}
	for i, d := range earlier {
		got, err := os.ReadFile(in.path("early" + strconv.Itoa(i)))
		if err != nil || !bytes.Equal(got, d) {
			t.Fatalf("early%d after ENOSPC: %d bytes, %v", i, len(got), err)
		}
	}
	// Nothing of them is lost across a remount either.
	in.unmount()
	in.mount()
	for i, d := range earlier {
		cmpFile(t, in.path("early"+strconv.Itoa(i)), d)
	}
	in.unmount()
}

// TestXattrTools uses getfattr and setfattr as a user would.
func TestXattrTools(t *testing.T) {
	needAttr(t)
	in := newInstance(t)
	in.mount()
	data := randomBytes(5, 1<<20+12345) // 5 data chunks
	p := in.path("f")
	writeFile(t, p, data)

	out, err := exec.Command("getfattr", "--absolute-names", "-d", "-m", "^user\\.point\\.", p).CombinedOutput()
	if err != nil {
		t.Fatalf("getfattr -d: %v: %s", err, out)
	}
	for _, name := range []string{"status", "size", "id", "merkle_root", "chunks", "redundancy", "expires", "autorenew", "chunk.0", "chunk.4"} {
		if !bytes.Contains(out, []byte("user.point."+name)) {
			t.Errorf("getfattr -d does not list user.point.%s:\n%s", name, out)
		}
	}
	if size, _ := getfattr(t, "user.point.size", p); size != strconv.Itoa(len(data)) {
		t.Errorf("size %q, want %d", size, len(data))
	}
	waitXattr(t, p, "user.point.status", uploadTimeout, func(v string) bool { return v == "uploaded" })
	if v, _ := getfattr(t, "user.point.chunks", p); v != "uploaded 6/6" {
		t.Errorf("chunks %q, want uploaded 6/6", v)
	}
	if v, err := getfattr(t, "user.point.cost", p); err != nil || v == "" || strings.Trim(v, "0123456789") != "" {
		t.Errorf("cost %q, %v: want wei, in decimal", v, err)
	}

	// Unknown names in our namespace: "No such attribute", never EIO.
	for _, name := range []string{"user.point.xyz", "user.point.chunk.5", "user.point.chunk.x", "user.other"} {
		_, err := getfattr(t, name, p)
		if err == nil || !strings.Contains(err.Error(), "No such attribute") {
			t.Errorf("getfattr -n %s: %v, want No such attribute", name, err)
		}
	}
	// Computed attributes cannot be set; bad values are refused.
	if out, err := setfattr("user.point.id", "x", p); err == nil {
		t.Errorf("setfattr user.point.id succeeded: %s", out)
	}
	if out, err := setfattr("user.point.redundancy", "zero", p); err == nil {
		t.Errorf("setfattr redundancy=zero succeeded: %s", out)
	}
	// Our own attributes round-trip.
	if out, err := setfattr("user.note", "hello", p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v, _ := getfattr(t, "user.note", p); v != "hello" {
		t.Errorf("user.note = %q", v)
	}

	// Policy: autorenew and expires are readable and settable.
	if out, err := setfattr("user.point.autorenew", "false", p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v, _ := getfattr(t, "user.point.autorenew", p); v != "false" {
		t.Errorf("autorenew after setting false: %q", v)
	}
	exp := time.Now().Add(60 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	if out, err := setfattr("user.point.expires", exp, p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v, _ := getfattr(t, "user.point.expires", p); v != exp {
		t.Errorf("expires %q, want %q", v, exp)
	}

	// Redundancy 5: the engine adds links until 5 are signed per chunk.
	if out, err := setfattr("user.point.redundancy", "5", p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v, _ := getfattr(t, "user.point.redundancy", p); v != "5" {
		t.Errorf("redundancy after setting 5: %q", v)
	}
	waitXattr(t, p, "user.point.status", uploadTimeout, func(v string) bool { return v == "uploaded" })
	for i := range 5 {
		v := waitXattr(t, p, "user.point.chunk."+strconv.Itoa(i), uploadTimeout, func(v string) bool { return signedLinks(v) >= 5 })
		if !strings.HasPrefix(v, "uploaded 5/5 ") {
			t.Errorf("chunk.%d: %q", i, v)
		}
	}
	// Lowered to 2: the surplus links are released at once (RELEASE).
	if out, err := setfattr("user.point.redundancy", "2", p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for i := range 5 {
		v := waitXattr(t, p, "user.point.chunk."+strconv.Itoa(i), uploadTimeout, func(v string) bool { return signedLinks(v) == 2 })
		if !strings.HasPrefix(v, "uploaded 2/2 ") {
			t.Errorf("chunk.%d after lowering: %q", i, v)
		}
	}

	// A directory aggregates its subtree; new files inherit its policy.
	d := in.path("dir")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := setfattr("user.point.redundancy", "2", d); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	writeFile(t, filepath.Join(d, "child"), []byte("child"))
	if v, _ := getfattr(t, "user.point.redundancy", filepath.Join(d, "child")); v != "2" {
		t.Errorf("child redundancy %q, want 2 (inherited)", v)
	}
	waitXattr(t, d, "user.point.status", uploadTimeout, func(v string) bool { return v == "uploaded" })
	if v, _ := getfattr(t, "user.point.pending", d); v != "files=0 chunks=0 bytes=0" {
		t.Errorf("pending of an uploaded dir: %q", v)
	}
	in.unmount()
}

// TestSignalAndUmount: SIGTERM makes the daemon unmount and close; plain
// umount ends it too; nothing written is lost either way.
func TestSignalAndUmount(t *testing.T) {
	in := newInstance(t)
	in.mount()
	data := randomBytes(3, 3<<20)
	if err := os.WriteFile(in.path("f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(in.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(in.pid, 60*time.Second)
	if isMounted(in.mnt) {
		t.Fatal("still mounted after SIGTERM")
	}
	if !strings.Contains(in.logTail(), `msg=closed`) {
		t.Errorf("the daemon did not close cleanly:\n%s", in.logTail())
	}
	in.mount()
	cmpFile(t, in.path("f"), data)
	if err := os.WriteFile(in.path("g"), data[:1000], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("umount", in.mnt).CombinedOutput(); err != nil {
		t.Skipf("umount: %v: %s", err, out)
	}
	waitExit(in.pid, 60*time.Second)
	in.mount()
	cmpFile(t, in.path("f"), data)
	cmpFile(t, in.path("g"), data[:1000])
	in.unmount()
}
