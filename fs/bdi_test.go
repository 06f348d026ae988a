package fs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindMount(t *testing.T) {
	const info = `22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
40 22 0:39 / /mnt/point rw,nosuid,nodev - fuse.pointfs pointfs rw,user_id=0
41 22 0:40 / /mnt/my\040photos rw,nosuid,nodev - fuse.pointfs pointfs rw
42 40 0:41 / /mnt/point rw,nosuid,nodev - fuse.pointfs pointfs rw
short line
`
	for dir, want := range map[string]string{
		"/":              "253:1",
		"/mnt/my photos": "0:40",
		"/mnt/point":     "0:41", // mounted over 0:39: the newer one
	} {
		got, err := findMount(strings.NewReader(info), dir)
		if err != nil || got != want {
			t.Errorf("findMount(%q) = %q, %v; want %q", dir, got, err, want)
		}
	}
	if got, err := findMount(strings.NewReader(info), "/mnt/poin"); err == nil {
		t.Errorf("findMount of a dir with no mount = %q, want an error", got)
	}
}

func TestRaiseMaxRatio(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ before, after string }{
		{"1\n", "50"},      // the kernel's default for FUSE: raised
		{"100\n", "100\n"}, // already higher: left alone
	} {
		p := filepath.Join(dir, "max_ratio")
		if err := os.WriteFile(p, []byte(c.before), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := raiseMaxRatio(p, 50); err != nil {
			t.Fatalf("raiseMaxRatio over %q: %v", c.before, err)
		}
		if b, _ := os.ReadFile(p); string(b) != c.after {
			t.Errorf("raiseMaxRatio over %q left %q, want %q", c.before, b, c.after)
		}
	}
	p := filepath.Join(dir, "bad")
	os.WriteFile(p, []byte("many"), 0o644)
	if err := raiseMaxRatio(p, 50); err == nil {
		t.Error("raiseMaxRatio over a file that holds no number: no error")
	}
	if err := raiseMaxRatio(filepath.Join(dir, "missing"), 50); err == nil {
		t.Error("raiseMaxRatio of a missing file: no error")
	}
}
