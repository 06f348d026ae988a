package upload

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
)

func chunkOf(t *testing.T, n int) (meta.ID, []byte) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return merkle.Keccak256(b), b
}

func wantChunk(t *testing.T, c *Cache, id meta.ID, data []byte) {
	t.Helper()
	got, _, err := c.Get(id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get %s: %d bytes, %v; want %d bytes", id, len(got), err, len(data))
	}
	buf := make([]byte, len(data)+10)
	n, err := c.ReadInto(id, buf)
	if err != nil || n != len(data) || !bytes.Equal(buf[:n], data) {
		t.Fatalf("ReadInto %s: %d, %v", id, n, err)
	}
	if len(data) > 0 {
		if _, err := c.ReadInto(id, make([]byte, len(data)-1)); !errors.Is(err, meta.ErrTooLarge) {
			t.Fatalf("ReadInto a short buffer: %v, want ErrTooLarge", err)
		}
	}
	if !c.Has(id) {
		t.Fatalf("Has %s = false", id)
	}
}

func wantMissing(t *testing.T, c *Cache, id meta.ID) {
	t.Helper()
	if _, _, err := c.Get(id); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Get %s: %v, want ErrNotFound", id, err)
	}
	if _, err := c.ReadInto(id, make([]byte, 1<<20)); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("ReadInto %s: %v, want ErrNotFound", id, err)
	}
	if c.Has(id) {
		t.Fatalf("Has %s = true", id)
	}
}

// Chunks go to packs and come back, across reopens, pack rollovers,
// concurrent Puts and removals.
func TestCachePacks(t *testing.T) {
	defer func(old int64) { packSize = old }(packSize)
	packSize = 1 << 20 // a few chunks per pack
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	chunks := map[meta.ID][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 6 {
				id, b := chunkOf(t, 1+(g*7919+i*104729)%(256<<10))
				if err := c.Put(id, b); err != nil {
					t.Error(err)
					return
				}
				if err := c.Put(id, b); err != nil { // again: content addressed
					t.Error(err)
				}
				mu.Lock()
				chunks[id] = b
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	empty := merkle.Keccak256()
	if err := c.Put(empty, nil); err != nil {
		t.Fatal(err)
	}
	chunks[empty] = []byte{}
	for id, b := range chunks {
		wantChunk(t, c, id, b)
	}
	packs, _ := filepath.Glob(filepath.Join(dir, "packs", "*.pack"))
	if len(packs) < 3 {
		t.Errorf("%d packs, want several at 1 MiB each", len(packs))
	}
	var gone meta.ID
	for id := range chunks {
		gone = id
		break
	}
	if err := c.Remove(gone); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, c, gone)
	c.Close()

	// Reopened: the same chunks, the removed one still removed, and a
	// torn record at the end of a log is ignored.
	logs, _ := filepath.Glob(filepath.Join(dir, "packs", "*.idx"))
	f, err := os.OpenFile(logs[len(logs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("torn rec"))
	f.Close()
	c, err = OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for id, b := range chunks {
		if id == gone {
			wantMissing(t, c, id)
			continue
		}
		wantChunk(t, c, id, b)
	}
	id, b := chunkOf(t, 1000)
	if err := c.Put(id, b); err != nil {
		t.Fatal(err)
	}
	wantChunk(t, c, id, b)
}

// wantChecked requires Get to say whether chunk id's bytes were checked
// against the checksum kept with them.
func wantChecked(t *testing.T, c *Cache, id meta.ID, want bool) {
	t.Helper()
	if _, checked, err := c.Get(id); err != nil || checked != want {
		t.Fatalf("Get %s: checked %v, %v; want checked %v", id, checked, err, want)
	}
}

// A chunk whose bytes changed on disk reads as corrupt, before and after a
// reopen, through Get and ReadInto; the chunks beside it still read.
func TestCacheDetectsDamagedChunks(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, ab := chunkOf(t, 10000)
	b, bb := chunkOf(t, 20000)
	for _, x := range []struct {
		id meta.ID
		b  []byte
	}{{a, ab}, {b, bb}} {
		if err := c.Put(x.id, x.b); err != nil {
			t.Fatal(err)
		}
		wantChecked(t, c, x.id, true)
	}
	packs, _ := filepath.Glob(filepath.Join(dir, "packs", "*.pack"))
	if len(packs) != 1 {
		t.Fatalf("packs %v, want one", packs)
	}
	f, err := os.OpenFile(packs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Chunk b follows chunk a: flip a byte in its middle.
	if _, err := f.WriteAt([]byte{^bb[5000]}, int64(len(ab))+5000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for round := range 2 {
		if _, _, err := c.Get(b); !errors.Is(err, meta.ErrCorrupt) {
			t.Fatalf("round %d: Get of a damaged chunk: %v, want ErrCorrupt", round, err)
		}
		if _, err := c.ReadInto(b, make([]byte, len(bb))); !errors.Is(err, meta.ErrCorrupt) {
			t.Fatalf("round %d: ReadInto of a damaged chunk: %v, want ErrCorrupt", round, err)
		}
		wantChunk(t, c, a, ab)
		wantChecked(t, c, a, true)
		c.Close()
		if c, err = OpenCache(dir); err != nil {
			t.Fatal(err)
		}
	}
	defer c.Close()
	// Removed and put again, it reads back whole.
	if err := c.Remove(b); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(b, bb); err != nil {
		t.Fatal(err)
	}
	wantChunk(t, c, b, bb)
}

// writeOldPack writes pack 1 of a cache in dir as caches did before records
// carried their chunk's checksum: the chunks in order, and a log of 48-byte
// records without a header. damage, if set, changes the pack's bytes first.
func writeOldPack(t *testing.T, dir string, ids []meta.ID, chunks [][]byte, damage func(pack []byte)) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "packs"), 0o700); err != nil {
		t.Fatal(err)
	}
	var pack, log []byte
	for i, id := range ids {
		rec := make([]byte, recSizeV1)
		copy(rec, id[:])
		binary.BigEndian.PutUint64(rec[32:], uint64(len(pack)))
		binary.BigEndian.PutUint32(rec[40:], uint32(len(chunks[i])))
		binary.BigEndian.PutUint32(rec[44:], crc32.Checksum(rec[:44], castagnoli))
		log = append(log, rec...)
		pack = append(pack, chunks[i]...)
	}
	if damage != nil {
		damage(pack)
	}
	if err := os.WriteFile(filepath.Join(dir, "packs", "00000001.pack"), pack, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "packs", "00000001.idx"), log, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Index logs written before records carried their chunk's checksum (48-byte
// records, no header) still load: their chunks read back unchecked, for the
// engine to hash; new chunks go to a new pack, checked.
func TestCacheReadsLogsWithoutChecksums(t *testing.T) {
	dir := t.TempDir()
	a, ab := chunkOf(t, 3000)
	b, bb := chunkOf(t, 4000)
	writeOldPack(t, dir, []meta.ID{a, b}, [][]byte{ab, bb}, nil)
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantChunk(t, c, a, ab)
	wantChunk(t, c, b, bb)
	wantChecked(t, c, a, false)
	n, nb := chunkOf(t, 5000)
	if err := c.Put(n, nb); err != nil {
		t.Fatal(err)
	}
	wantChunk(t, c, n, nb)
	wantChecked(t, c, n, true)
	c.Close()
	if c, err = OpenCache(dir); err != nil {
		t.Fatal(err)
	}
	wantChecked(t, c, b, false)
	wantChecked(t, c, n, true)
}

// Removing the cache directory behind the engine's back (as tests and
// benchmarks do to force reads from providers) makes its chunks missing,
// and the next Put starts afresh.
func TestCacheRemovedBehindItsBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id, b := chunkOf(t, 5000)
	if err := c.Put(id, b); err != nil {
		t.Fatal(err)
	}
	wantChunk(t, c, id, b)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, c, id)
	id2, b2 := chunkOf(t, 7000)
	for _, x := range []struct {
		id meta.ID
		b  []byte
	}{{id, b}, {id2, b2}} {
		if err := c.Put(x.id, x.b); err != nil {
			t.Fatal(err)
		}
		wantChunk(t, c, x.id, x.b)
	}
	c.Close()
	c, err = OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantChunk(t, c, id, b)
	wantChunk(t, c, id2, b2)
}

// A cache written before packs (a file per chunk) is still read.
func TestCacheReadsLegacyFiles(t *testing.T) {
	dir := t.TempDir()
	id, b := chunkOf(t, 3000)
	h := id.String()
	if err := os.MkdirAll(filepath.Join(dir, h[:2]), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, h[:2], h), b, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantChunk(t, c, id, b)
	if err := c.Put(id, b); err != nil {
		t.Fatal(err)
	}
	if packs, _ := filepath.Glob(filepath.Join(dir, "packs", "*.pack")); len(packs) != 0 {
		t.Errorf("a chunk held as a file was packed again: %v", packs)
	}
	if err := c.Remove(id); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, c, id)
}

func BenchmarkCachePut(b *testing.B) {
	c, err := OpenCache(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, meta.DefaultChunkSize)
	b.SetBytes(int64(len(data)))
	i := 0
	for b.Loop() {
		i++
		copy(data, fmt.Sprint(i))
		var id meta.ID
		copy(id[:], fmt.Sprintf("%032d", i))
		if err := c.Put(id, data); err != nil {
			b.Fatal(err)
		}
	}
}

// Trim drops the oldest packs until the cache is within its bound, after
// copying forward the chunks its caller keeps; what it kept and dropped
// stays so after a reopen, and the packs it dropped are gone from disk.
func TestCacheTrim(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.limitPacks(1 << 20)
	chunks := map[meta.ID][]byte{}
	var order []meta.ID
	for range 20 {
		id, b := chunkOf(t, 200<<10)
		if err := c.Put(id, b); err != nil {
			t.Fatal(err)
		}
		chunks[id] = b
		order = append(order, id)
	}
	if c.Size() != 20*200<<10 {
		t.Fatalf("Size %d, want %d", c.Size(), 20*200<<10)
	}
	keep := map[meta.ID]bool{order[0]: true, order[7]: true, order[19]: true}
	asked := map[meta.ID]bool{}
	const bound = 2 << 20
	var mu sync.Mutex
	freed, err := c.Trim(bound, &mu, func(ids []meta.ID) ([]bool, error) {
		if mu.TryLock() {
			t.Error("Trim asked about a pack without holding its lock")
			mu.Unlock()
		}
		out := make([]bool, len(ids))
		for i, id := range ids {
			if asked[id] {
				t.Errorf("asked twice about %s", id)
			}
			asked[id] = true
			out[i] = keep[id]
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if freed == 0 || c.Size() > bound {
		t.Fatalf("freed %d, size now %d, want at most %d", freed, c.Size(), bound)
	}
	check := func(c *Cache) {
		t.Helper()
		for id, b := range chunks {
			if keep[id] || !asked[id] {
				wantChunk(t, c, id, b)
				wantChecked(t, c, id, true)
			} else {
				wantMissing(t, c, id)
			}
		}
	}
	check(c)
	packs, _ := filepath.Glob(filepath.Join(dir, "packs", "*.pack"))
	var onDisk int64
	for _, p := range packs {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		onDisk += st.Size()
	}
	if onDisk != c.Size() {
		t.Errorf("packs on disk hold %d bytes, Size says %d", onDisk, c.Size())
	}
	c.Close()
	if c, err = OpenCache(dir); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check(c)
	// Within its bound, Trim asks nothing.
	if _, err := c.Trim(c.Size(), &mu, func([]meta.ID) ([]bool, error) {
		t.Error("Trim within the bound asked about chunks")
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	// A pack mostly kept stays, and is not copied.
	before := c.Size()
	if n, err := c.Trim(0, &mu, func(ids []meta.ID) ([]bool, error) {
		out := make([]bool, len(ids))
		for i := range out {
			out[i] = true
		}
		return out, nil
	}); err != nil || n != 0 || c.Size() != before {
		t.Fatalf("Trim keeping everything: freed %d, %v; size %d → %d", n, err, before, c.Size())
	}
}

// Trim while chunks are put and read: a reader gets a chunk's own bytes or
// ErrNotFound (for one Trim dropped), never other bytes or another error,
// and every chunk the keep function asks for stays.
func TestCacheTrimWhileInUse(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.limitPacks(1 << 20)
	var (
		mu     sync.Mutex
		chunks = map[meta.ID][]byte{}
		ids    []meta.ID
	)
	keepIt := func(id meta.ID) bool { return id[0]%3 == 0 }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id, b := chunkOf(t, 64<<10+i%1000)
			if err := c.Put(id, b); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			chunks[id] = b
			ids = append(ids, id)
			mu.Unlock()
		}
	}()
	read := func(r int) {
		defer wg.Done()
		for i := r; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			if len(ids) == 0 {
				mu.Unlock()
				continue
			}
			id := ids[(i*7919)%len(ids)]
			want := chunks[id]
			mu.Unlock()
			got, _, err := c.Get(id)
			switch {
			case errors.Is(err, meta.ErrNotFound) && !keepIt(id):
			case err != nil:
				t.Errorf("Get %s: %v", id, err)
				return
			case !bytes.Equal(got, want):
				t.Errorf("Get %s: other bytes", id)
				return
			}
		}
	}
	for r := range 4 {
		wg.Add(1)
		go read(r)
	}
	var lock sync.Mutex
	var freed int64
	for range 30 {
		n, err := c.Trim(2<<20, &lock, func(ids []meta.ID) ([]bool, error) {
			out := make([]bool, len(ids))
			for i, id := range ids {
				out[i] = keepIt(id)
			}
			return out, nil
		})
		if err != nil {
			t.Error(err)
			break
		}
		freed += n
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if freed == 0 {
		t.Error("Trim freed nothing")
	}
	for id, b := range chunks {
		if keepIt(id) {
			wantChunk(t, c, id, b)
		}
	}
}

// Trim copies a kept chunk of an older log (no checksum) only if its bytes
// hash to its id: the copy gets a checksum that later reads trust.
func TestCacheTrimChecksOlderChunksBeforeCopying(t *testing.T) {
	dir := t.TempDir()
	a, ab := chunkOf(t, 3000)
	b, bb := chunkOf(t, 4000)
	x, xb := chunkOf(t, 10000)
	writeOldPack(t, dir, []meta.ID{a, b, x}, [][]byte{ab, bb, xb}, func(pack []byte) {
		pack[len(ab)+100] ^= 1 // b is damaged on disk
	})
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, nb := chunkOf(t, 1000)
	if err := c.Put(n, nb); err != nil { // a current pack
		t.Fatal(err)
	}
	var mu sync.Mutex
	freed, err := c.Trim(0, &mu, func(ids []meta.ID) ([]bool, error) {
		out := make([]bool, len(ids))
		for i, id := range ids {
			out[i] = id == a || id == b
		}
		return out, nil
	})
	if err != nil || freed == 0 {
		t.Fatalf("trim: freed %d, %v", freed, err)
	}
	wantChunk(t, c, a, ab)
	wantChecked(t, c, a, true)
	wantMissing(t, c, b)
	wantMissing(t, c, x)
}
