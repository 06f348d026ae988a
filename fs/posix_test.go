package fs_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"maps"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// posixLimits are the posixtest checks pointfs does not pass, with the
// reason. fs/doc.go lists them too (keep the two in step).
var posixLimits = map[string]string{
	"FcntlFlockLocksFile": "it expects a second descriptor of the same process to conflict with a POSIX " +
		"record lock; such locks belong to the process, and the kernel (which keeps the locks of this " +
		"mount) lets the process take it, as on ext4 or tmpfs (go-fuse's own run skips this check)",
}

// TestPosix runs every check of go-fuse's posixtest package against a real
// mount, each in a fresh directory.
func TestPosix(t *testing.T) {
	in := newInstance(t)
	in.mount()
	for _, name := range slices.Sorted(maps.Keys(posixtest.All)) {
		fn := posixtest.All[name]
		t.Run(name, func(t *testing.T) {
			if why, ok := posixLimits[name]; ok {
				t.Skip("known limitation: " + why)
			}
			dir := filepath.Join(in.mnt, name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			fn(t, dir)
		})
	}
	in.unmount()
}
