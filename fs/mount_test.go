package fs_test

// End-to-end tests of the mount: they build the pointfs binary once and run
// `pointfs mount --data D M` as a separate process (a process must never
// touch a mount it serves), then use the mount as any program would.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	binary  string // the pointfs binary built by TestMain
	testTmp string // every mount of this run is under it
	noFUSE  string // why mounts cannot run here, if they cannot
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(roDaemonEnv); spec != "" {
		os.Exit(roDaemon(spec)) // this binary is a test's daemon
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "pointfs-fs-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testTmp = tmp
	defer os.RemoveAll(tmp)
	switch {
	case !exists("/dev/fuse"):
		noFUSE = "no /dev/fuse"
	case !inPath("fusermount3"):
		noFUSE = "no fusermount3 (apt-get install fuse3)"
	}
	if noFUSE == "" {
		binary = filepath.Join(tmp, "pointfs")
		args := []string{"build", "-o", binary}
		if os.Getenv("POINTFS_TEST_RACE") != "" {
			args = append(args, "-race") // the daemon under the race detector
		}
		out, err := exec.Command("go", append(args, "github.com/pointfs/pointfs/cmd/pointfs")...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build pointfs: %v\n%s", err, out)
			return 1
		}
	}
	code := m.Run()
	// No test may leave a mount behind.
	if left := mountsUnder(tmp); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: mounts left behind: %v\n", left)
		for _, mp := range left {
			exec.Command("fusermount3", "-u", "-z", mp).Run()
			exec.Command("umount", "-l", mp).Run()
		}
		code = 1
	}
	return code
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func inPath(name string) bool { _, err := exec.LookPath(name); return err == nil }

// mountsUnder lists the mountpoints of /proc/mounts under dir.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(unescapeMount(f[1]), dir) {
			out = append(out, unescapeMount(f[1]))
		}
	}
	return out
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

func isMounted(mp string) bool {
	for _, m := range mountsUnder(mp) {
		if m == mp {
			return true
		}
	}
	return false
}

func needFUSE(t testing.TB) {
	t.Helper()
	if noFUSE != "" {
		t.Skip("cannot mount FUSE here: " + noFUSE)
	}
}

// instance is one data dir and its mountpoint.
type instance struct {
	t     testing.TB
	data  string
	mnt   string
	spool string
	pid   int
}

// newInstance makes a data dir and a mountpoint under the test's temp dir.
func newInstance(t testing.TB) *instance {
	t.Helper()
	needFUSE(t)
	dir, err := os.MkdirTemp(testTmp, strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{t: t, data: filepath.Join(dir, "data"), mnt: filepath.Join(dir, "mnt")}
	if err := os.MkdirAll(in.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Runs after the unmount cleanups: the daemons have finished.
		b, _ := os.ReadFile(filepath.Join(in.data, "pointfs.log"))
		for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
			if i := bytes.Index(b, []byte(bad)); i >= 0 {
				t.Errorf("daemon log has %q:\n%s", bad, b[i:min(len(b), i+3000)])
			}
		}
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	return in
}

var pidRE = regexp.MustCompile(`daemon pid (\d+)`)

// mount runs `pointfs mount`; the cleanup unmounts even if the test fails.
func (in *instance) mount(extra ...string) {
	t := in.t
	t.Helper()
	args := append([]string{"mount", "--data", in.data}, extra...)
	if in.spool != "" {
		args = append(args, "--spool", in.spool)
	}
	args = append(args, in.mnt)
	cmd := exec.Command(binary, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pointfs mount: %v\n%s\nlog: %s", err, out, in.logTail())
	}
	m := pidRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("pointfs mount did not say its daemon pid: %s", out)
	}
	in.pid, _ = strconv.Atoi(string(m[1]))
	if !isMounted(in.mnt) {
		t.Fatalf("pointfs mount returned but %s is not mounted", in.mnt)
	}
	pid := in.pid
	t.Cleanup(func() {
		if isMounted(in.mnt) {
			exec.Command("fusermount3", "-u", "-z", in.mnt).Run()
		}
		waitExit(pid, 60*time.Second)
	})
}

// unmount runs `pointfs unmount`, which returns when the daemon finished.
func (in *instance) unmount() {
	t := in.t
	t.Helper()
	out, err := exec.Command(binary, "unmount", in.mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("pointfs unmount: %v\n%s", err, out)
	}
	if isMounted(in.mnt) {
		t.Fatalf("%s still mounted after pointfs unmount", in.mnt)
	}
	if alive(in.pid) {
		t.Fatalf("daemon %d still runs after pointfs unmount returned", in.pid)
	}
}

// kill SIGKILLs the daemon; its dead mount stays (the next pointfs mount
// clears it).
func (in *instance) kill() {
	t := in.t
	t.Helper()
	if err := syscall.Kill(in.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(in.pid, 30*time.Second)
}

func (in *instance) path(name string) string { return filepath.Join(in.mnt, name) }

func (in *instance) logTail() string {
	b, _ := os.ReadFile(filepath.Join(in.data, "pointfs.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(st, ')')
	return !(i > 0 && i+2 < len(st) && st[i+2] == 'Z')
}

func waitExit(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			time.Sleep(100 * time.Millisecond)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getfattr runs getfattr as a user would and returns the value.
func getfattr(t testing.TB, name, path string) (string, error) {
	t.Helper()
	cmd := exec.Command("getfattr", "--absolute-names", "--only-values", "-n", name, path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("getfattr -n %s %s: %v: %s", name, path, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return string(out), nil
}

func needAttr(t testing.TB) {
	t.Helper()
	if !inPath("getfattr") || !inPath("setfattr") {
		t.Skip("getfattr/setfattr missing (apt-get install attr)")
	}
}

// waitXattr polls name on path until ok accepts its value.
func waitXattr(t testing.TB, path, name string, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		v, err := getfattr(t, name, path)
		if err == nil && ok(v) {
			return v
		}
		if err != nil {
			last = err.Error()
		} else {
			last = v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s of %s after %v: %q", name, path, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// signedLinks counts the signed links a user.point.chunk.<n> value shows.
func signedLinks(v string) int {
	n := 0
	for _, line := range strings.Split(v, "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 2 && f[1] == "signed" {
			n++
		}
	}
	return n
}

func randomBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	x := uint64(seed)*0x9E3779B97F4A7C15 + 1
	for i := 0; i+8 <= n; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for j := range 8 {
			b[i+j] = byte(x >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// setfattr runs setfattr as a user would.
func setfattr(name, value, path string) ([]byte, error) {
	return exec.Command("setfattr", "-n", name, "-v", value, path).CombinedOutput()
}
