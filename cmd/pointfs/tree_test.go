package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tree on the network, end to end with the built binary, a devnet of
// provider processes and real mounts: a tree written through one mount is
// published; a share of one directory mounts read-only from another data
// dir; and with its data dir deleted, the key alone brings the whole tree
// back.

func needFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		t.Skip("no fusermount3 (apt-get install fuse3)")
	}
}

// clientDir makes a data dir that uses the devnet's network.
func clientDir(t *testing.T, net string) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(configPath(net))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(configPath(d), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// mountAt runs `pointfs mount ARGS MP` and unmounts at the end of the test.
func mountAt(t *testing.T, mp string, args ...string) string {
	t.Helper()
	if err := os.MkdirAll(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	r := run(t, append(append([]string{"mount"}, args...), mp)...)
	if r.code != 0 {
		t.Fatalf("mount %v: exit %d: %s", args, r.code, r.stderr)
	}
	t.Cleanup(func() { unmountAt(t, mp) })
	return r.stderr
}

func unmountAt(t *testing.T, mp string) {
	if _, ok := mountedAt(mp); !ok {
		return
	}
	if r := run(t, "unmount", mp); r.code != 0 {
		t.Errorf("unmount %s: %s", mp, r.stderr)
		exec.Command("fusermount3", "-u", "-z", mp).Run()
	}
}

func getxattr(path, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := syscall.Getxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// waitTreePublished waits until the mount's root says the whole tree is
// uploaded and its root record published.
func waitTreePublished(t *testing.T, mp string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := getxattr(mp, "user.point.status")
		seq, serr := getxattr(mp, "user.point.seq")
		if err == nil && st == "uploaded" && serr == nil && seq != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tree at %s not published after %v: status %q (%v), seq %q (%v)", mp, d, st, err, seq, serr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// writeTree writes files (path → content, "→target" for a symlink) under
// root.
func writeTree(t *testing.T, root string, tree map[string][]byte) {
	t.Helper()
	for p, data := range tree {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(string(data), "→"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// checkTree compares the tree under root with want, both ways.
func checkTree(t *testing.T, root string, want map[string][]byte, emptyDirs ...string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case rel == ".":
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if w, ok := want[rel]; !ok || string(w) != "→"+target {
				t.Errorf("%s: symlink to %q, want %q", rel, target, w)
			}
		case d.IsDir():
			return nil
		default:
			got, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if w, ok := want[rel]; !ok || !bytes.Equal(got, w) {
				t.Errorf("%s: %d bytes differ from the %d written", rel, len(got), len(w))
			}
		}
		seen[rel] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range want {
		if !seen[p] {
			t.Errorf("%s is missing", p)
		}
	}
	for _, d := range emptyDirs {
		if st, err := os.Stat(filepath.Join(root, d)); err != nil || !st.IsDir() {
			t.Errorf("empty directory %s: %v", d, err)
		}
	}
}

func TestTreeOnTheNetwork(t *testing.T) {
	needFUSE(t)
	net, _ := startDevnet(t, 4)
	keyFile := filepath.Join(net, "key") // the devnet funds this key
	big := make([]byte, 1<<20+777)
	for i := range big {
		big[i] = byte(i * 7)
	}
	tree := map[string][]byte{
		"top.txt":                   []byte("hello network\n"),
		"empty":                     {},
		"photos/a.jpg":              big,
		"photos/b c ü.jpg":          bytes.Repeat([]byte("b"), 300<<10),
		"photos/2026/deep/x.bin":    []byte("deep"),
		"photos/link":               []byte("→a.jpg"),
		"docs/notes/todo — list.md": []byte("- recover\n- share\n"),
	}
	photos := map[string][]byte{}
	for p, d := range tree {
		if rest, ok := strings.CutPrefix(p, "photos/"); ok {
			photos[rest] = d
		}
	}
	base := t.TempDir()

	// The owner writes a tree and waits until it is on the network.
	dataA := clientDir(t, net)
	mpA := filepath.Join(base, "a")
	out := mountAt(t, mpA, "--data", dataA, "--key", keyFile)
	if !strings.Contains(out, "starting an empty one") {
		t.Errorf("first mount with --key says %q", out)
	}
	writeTree(t, mpA, tree)
	if err := os.MkdirAll(filepath.Join(mpA, "photos", "empty dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitTreePublished(t, mpA, 2*time.Minute)

	// A share of photos/, mounted read-only from a second data dir.
	r := run(t, "publish", filepath.Join(mpA, "photos"))
	if r.code != 0 {
		t.Fatalf("publish: %s", r.stderr)
	}
	capStr := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(capStr, capPrefix) {
		t.Fatalf("publish printed %q", capStr)
	}
	if id, err := getxattr(filepath.Join(mpA, "photos"), "user.point.id"); err != nil || !strings.Contains(capStr, id) {
		t.Errorf("photos has id %q (%v); the capability is %s", id, err, capStr)
	}
	dataR := clientDir(t, net)
	mpR := filepath.Join(base, "reader")
	out = mountAt(t, mpR, "--data", dataR, "--root", capStr)
	if !strings.Contains(out, "read-only") {
		t.Errorf("share mount says %q", out)
	}
	checkTree(t, mpR, photos, "empty dir")
	for name, try := range map[string]func() error{
		"create": func() error { return os.WriteFile(filepath.Join(mpR, "new"), []byte("x"), 0o644) },
		"write":  func() error { return os.WriteFile(filepath.Join(mpR, "a.jpg"), []byte("x"), 0o644) },
		"mkdir":  func() error { return os.Mkdir(filepath.Join(mpR, "d"), 0o755) },
		"remove": func() error { return os.Remove(filepath.Join(mpR, "2026", "deep", "x.bin")) },
		"rename": func() error { return os.Rename(filepath.Join(mpR, "a.jpg"), filepath.Join(mpR, "z.jpg")) },
	} {
		if err := try(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s on the shared tree: %v, want EROFS", name, err)
		}
	}
	unmountAt(t, mpR)
	other := filepath.Join(base, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	r = run(t, "mount", "--data", dataR, "--root", capPrefix+strings.Repeat("0", 64)+":"+strings.Repeat("1", 64), other)
	if r.code == 0 || !strings.Contains(r.stderr, "holds the shared tree") {
		t.Errorf("a second share on a data dir that holds one: exit %d, %s", r.code, r.stderr)
	}
	if r := run(t, "mount", "--data", dataR, other); r.code == 0 || !strings.Contains(r.stderr, "--root") {
		t.Errorf("a data dir holding a share mounted writable: exit %d, %s", r.code, r.stderr)
	}

	// The owner's machine is lost: only the key file is left.
	unmountAt(t, mpA)
	if err := os.RemoveAll(dataA); err != nil {
		t.Fatal(err)
	}
	dataB := clientDir(t, net)
	mpB := filepath.Join(base, "b")
	out = mountAt(t, mpB, "--data", dataB, "--key", keyFile)
	if !strings.Contains(out, "recovered the tree") {
		t.Errorf("recovery mount says %q", out)
	}
	checkTree(t, mpB, tree, "photos/empty dir")
	if st, err := os.Stat(filepath.Join(mpB, "photos", "a.jpg")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("recovered mode: %v %v", st, err)
	}
	// The recovered tree goes on: a change is published as the next seq.
	seq, _ := getxattr(mpB, "user.point.seq")
	if err := os.WriteFile(filepath.Join(mpB, "after.txt"), []byte("after recovery"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		s, _ := getxattr(mpB, "user.point.seq")
		if s != seq && s != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new root record after a change (seq %s)", seq)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
