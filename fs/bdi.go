package fs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// dirtyRatio is the share of the kernel's dirty-page limit (in percent)
// that a mount may hold. The kernel gives every FUSE mount 1% with a
// strict limit, some 48 MB on a machine of 24 GB: with the writeback
// cache, a large write stalls in the kernel's throttling each time the
// mount holds that much while the daemon drains it into the spool, and
// the pipeline runs dry between the stalls. A 1 GiB dd with
// conv=fdatasync into one mount, the setting alternated between rounds
// (each after the last round's upload), wrote 820-946 MB/s (median 889)
// with 1% and 750-1044 (median 995) with 50%; 100% did no better than 50%
// (914-1070 against 709-1048). Half keeps the strict limit and leaves the
// other half to the machine's other disks should the daemon hang with
// pages pinned, which is what the kernel's 1% guards against for FUSE
// servers it cannot trust.
const dirtyRatio = 50

// bdiRoot is where the kernel shows each backing device's writeback
// settings.
const bdiRoot = "/sys/class/bdi"

// raiseDirtyLimit raises the mount at dir's share of the dirty-page limit
// to dirtyRatio, if it is lower. It needs root (sysfs): without it, or on a
// kernel without the knob, the mount keeps the kernel's default and works
// as before, only writes large files slower, and the log says why at debug
// level. It reads the mount's device from /proc/self/mountinfo rather than
// by stat: this process serves the mount, and must not call into it.
func raiseDirtyLimit(ctx context.Context, log *slog.Logger, dir string) {
	dev, err := mountDevice("/proc/self/mountinfo", dir)
	if err == nil {
		err = raiseMaxRatio(filepath.Join(bdiRoot, dev, "max_ratio"), dirtyRatio)
	}
	if err != nil {
		log.DebugContext(ctx, "mount keeps the kernel's dirty-page limit", "err", err)
		return
	}
	log.DebugContext(ctx, "mount's dirty-page limit raised", "bdi", dev, "max_ratio", dirtyRatio)
}

// mountDevice returns the major:minor of the newest mount on dir listed in
// the mountinfo file at path.
func mountDevice(path, dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return findMount(f, dir)
}

// findMount scans mountinfo lines ("36 35 98:0 /root /mnt/point rw ...")
// for the last mount on dir: a mount over an earlier one is listed after it.
func findMount(r io.Reader, dir string) (string, error) {
	dev := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		if mountinfoPath.Replace(fields[4]) == dir {
			dev = fields[2]
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if dev == "" {
		return "", fmt.Errorf("no mount on %s in mountinfo", dir)
	}
	return dev, nil
}

// mountinfoPath undoes the kernel's octal escapes in a mountinfo path.
var mountinfoPath = strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)

// raiseMaxRatio writes ratio to the max_ratio file at path unless it holds
// that much already.
func raiseMaxRatio(path string, ratio int) error {
	cur, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(cur)))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if n >= ratio {
		return nil
	}
	return os.WriteFile(path, []byte(strconv.Itoa(ratio)), 0)
}
