package fs_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMountRaisesDirtyLimit checks that a mount served by root holds half
// the kernel's dirty-page limit instead of the 1% the kernel gives FUSE
// mounts (fs/bdi.go says what that costs large writes).
func TestMountRaisesDirtyLimit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root can change a mount's writeback settings")
	}
	in := newInstance(t)
	in.mount()
	var st syscall.Stat_t
	if err := syscall.Stat(in.mnt, &st); err != nil {
		t.Fatal(err)
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/max_ratio", unix.Major(st.Dev), unix.Minor(st.Dev))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("this kernel shows no max_ratio for the mount: %v", err)
	}
	if got := strings.TrimSpace(string(b)); got != "50" {
		t.Errorf("%s = %s, want 50", p, got)
	}
}
