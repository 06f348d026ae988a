package fs_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// fsxFile is one file under test and its model.
type fsxFile struct {
	path  string
	f     *os.File
	model []byte
}

// TestFSX is an fsx-style model checker: seeded random pwrite, pread,
// truncate, close-and-reopen and fsync on a few mounted files, every read
// and every size compared with an in-memory model. Reopening releases the
// file (its spool content is put), so later reads come from the engine and
// later writes copy the content back into the spool: the whole write path
// is exercised. POINTFS_FSX_SEED and POINTFS_FSX_OPS override the seed and
// the number of operations.
func TestFSX(t *testing.T) {
	in := newInstance(t)
	in.mount()

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("POINTFS_FSX_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = v
	}
	ops := 20000
	if s := os.Getenv("POINTFS_FSX_OPS"); s != "" {
		ops, _ = strconv.Atoi(s)
	}
	t.Logf("seed %d (rerun with POINTFS_FSX_SEED=%d), %d operations", seed, seed, ops)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	dir := in.path("fsx")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// One provider per chunk is enough here: the test is about the
	// file system, and it keeps the devnet's work small.
	if out, err := setfattr("user.point.redundancy", "1", dir); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	const maxSize = 700 << 10 // a few chunks of 256 KiB
	files := make([]*fsxFile, 3)
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("file %d ✓", i))
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = &fsxFile{path: p, f: f}
	}
	defer func() {
		for _, x := range files {
			if x.f != nil {
				x.f.Close()
			}
		}
	}()

	fail := func(op int, format string, a ...any) {
		t.Helper()
		t.Fatalf("seed %d, operation %d: %s", seed, op, fmt.Sprintf(format, a...))
	}
	buf := make([]byte, 256<<10)
	var counts [6]int
	for op := 0; op < ops; op++ {
		x := files[rng.IntN(len(files))]
		size := int64(len(x.model))
		switch r := rng.IntN(100); {
		case r < 38: // pwrite
			off := rng.Int64N(maxSize)
			n := 1 + rng.IntN(64<<10)
			if rng.IntN(10) == 0 {
				n = 1 + rng.IntN(256<<10)
			}
			if off+int64(n) > maxSize {
				n = int(maxSize - off)
			}
			data := buf[:n]
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			if k, err := x.f.WriteAt(data, off); err != nil || k != n {
				fail(op, "pwrite %d@%d of %s: %d, %v", n, off, x.path, k, err)
			}
			if end := off + int64(n); end > size {
				x.model = append(x.model, make([]byte, end-size)...)
			}
			copy(x.model[off:], data)
			counts[0]++
		case r < 78: // pread
			off := rng.Int64N(size + 4096)
			n := 1 + rng.IntN(128<<10)
			got := buf[:n]
			k, err := x.f.ReadAt(got, off)
			want := []byte{}
			if off < size {
				want = x.model[off:min(off+int64(n), size)]
			}
			if k != len(want) || !bytes.Equal(got[:k], want) {
				fail(op, "pread %d@%d of %s (size %d): got %d bytes (%v), want %d; first difference at %d",
					n, off, x.path, size, k, err, len(want), firstDiff(got[:k], want))
			}
			counts[1]++
		case r < 86: // truncate
			ns := rng.Int64N(maxSize)
			if rng.IntN(5) == 0 {
				ns = 0
			}
			if err := x.f.Truncate(ns); err != nil {
				fail(op, "truncate %s to %d: %v", x.path, ns, err)
			}
			if ns < size {
				x.model = x.model[:ns]
			} else {
				x.model = append(x.model, make([]byte, ns-size)...)
			}
			counts[2]++
		case r < 90: // close and reopen
			if err := x.f.Close(); err != nil {
				fail(op, "close %s: %v", x.path, err)
			}
			flags := os.O_RDWR
			if rng.IntN(4) == 0 {
				flags |= os.O_TRUNC
				x.model = x.model[:0]
			}
			f, err := os.OpenFile(x.path, flags, 0)
			if err != nil {
				x.f = nil
				fail(op, "reopen %s: %v", x.path, err)
			}
			x.f = f
			counts[3]++
		case r < 94: // fsync
			if err := x.f.Sync(); err != nil {
				fail(op, "fsync %s: %v", x.path, err)
			}
			counts[4]++
		default: // stat
			st, err := x.f.Stat()
			if err != nil || st.Size() != size {
				fail(op, "fstat %s: size %v (%v), want %d", x.path, sizeOf(st), err, size)
			}
			counts[5]++
		}
	}
	// Everything, read back through fresh descriptors.
	for _, x := range files {
		if err := x.f.Close(); err != nil {
			t.Fatal(err)
		}
		x.f = nil
		got, err := os.ReadFile(x.path)
		if err != nil || !bytes.Equal(got, x.model) {
			t.Fatalf("seed %d: final content of %s: %d bytes (%v), want %d, first difference at %d",
				seed, x.path, len(got), err, len(x.model), firstDiff(got, x.model))
		}
	}
	t.Logf("pwrite %d, pread %d, truncate %d, reopen %d, fsync %d, stat %d",
		counts[0], counts[1], counts[2], counts[3], counts[4], counts[5])
	in.unmount()
}

func sizeOf(st os.FileInfo) any {
	if st == nil {
		return nil
	}
	return st.Size()
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
