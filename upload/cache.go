package upload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
)

// Cache is the local store of plaintext chunks. Chunks wait here until their
// links are signed, and serve reads without a network round trip after that.
//
// Chunks are appended to pack files (dir/packs/NNNNNNNN.pack, a new one
// every packSize bytes), each with an index log beside it (.idx: one
// fixed-size, checksummed record per chunk) that Open reads back into
// memory. A record also carries a CRC-32C of its chunk's bytes, checked on
// every read: a chunk comes back exactly as Put was given it, or reads as
// corrupt. (Index logs written before that field, which start without the
// idxMagic header, still load; their chunks read unchecked, and the engine
// hashes them against their ids instead.) Checking a chunk read from the
// cache against its Keccak id instead bound the mount's reads of local
// files to the hash's speed, about 200 MB/s on the benchmark machine. A file per chunk cost an inode per chunk: on the benchmark
// machine's ext4 a create took ~0.8 ms of CPU (the inode bitmap search),
// 12% of the daemon's CPU while uploading; an append takes ~50 µs.
//
// Chunk data is written before its index record, so a crash in between
// leaves unreferenced bytes, never a record of missing ones; a torn last
// record is ignored. Caches written before packs kept a file per chunk
// (dir/xx/<id hex>): those are still read.
//
// Removing the cache directory (or a pack) behind the engine's back is
// allowed: a pack that was unlinked reads as missing, and the next Put
// starts a new one.
//
// Trim bounds the cache: it drops whole packs, oldest first, after copying
// forward the chunks its caller still needs.
type Cache struct {
	dir string

	mu      sync.Mutex
	index   map[meta.ID]chunkLoc
	packs   map[uint32]*os.File // open for reading and writing
	idxs    map[uint32]*os.File // index logs of the packs written since Open, O_APPEND
	sizes   map[uint32]int64    // bytes in each pack
	writing map[uint32]int      // Puts under way, per pack
	cur     uint32              // the pack Put appends to
	size    int64               // its size
	packMax int64               // the size after which Put starts a new pack
}

// chunkLoc is where a chunk is in the packs, and the CRC-32C of its bytes
// when its record has one (sum).
type chunkLoc struct {
	pack uint32
	off  int64
	n    int32
	crc  uint32
	sum  bool
}

// packSize is the size after which Put starts a new pack (a variable for
// tests).
var packSize int64 = 1 << 30

const (
	recSize   = 32 + 8 + 4 + 4 + 4 // id, offset, length, crc32c of the data, crc32c of the rest
	recSizeV1 = 32 + 8 + 4 + 4     // the same without the data's crc (logs without idxMagic)
	recRemove = ^uint32(0)         // the length of a removal record
)

// idxMagic starts every index log whose records carry their chunk's
// checksum. A log of the older format starts with a chunk id instead.
const idxMagic = "pfsidx2\n"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// OpenCache opens (creating) a chunk cache in dir.
func OpenCache(dir string) (*Cache, error) {
	if err := os.MkdirAll(filepath.Join(dir, "packs"), 0o700); err != nil {
		return nil, fmt.Errorf("chunk cache: %w", err)
	}
	c := &Cache{dir: dir, index: make(map[meta.ID]chunkLoc), packs: make(map[uint32]*os.File),
		idxs: make(map[uint32]*os.File), sizes: make(map[uint32]int64), writing: make(map[uint32]int),
		packMax: packSize}
	if err := c.load(); err != nil {
		c.Close()
		return nil, fmt.Errorf("chunk cache: %w", err)
	}
	return c, nil
}

// Close closes the packs. The engine's cache lives as long as its process;
// Close is for tests and tools.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, f := range c.packs {
		errs = append(errs, f.Close())
	}
	for _, f := range c.idxs {
		errs = append(errs, f.Close())
	}
	clear(c.packs)
	clear(c.idxs)
	c.cur++ // a Put after Close starts a new pack
	return errors.Join(errs...)
}

func (c *Cache) packPath(n uint32) string {
	return filepath.Join(c.dir, "packs", fmt.Sprintf("%08d.pack", n))
}

func (c *Cache) idxPath(n uint32) string {
	return filepath.Join(c.dir, "packs", fmt.Sprintf("%08d.idx", n))
}

// load reads every index log, in pack order.
func (c *Cache) load() error {
	ents, err := os.ReadDir(filepath.Join(c.dir, "packs"))
	if err != nil {
		return err
	}
	var nums []uint32
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".idx")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 32)
		if err != nil || n == 0 {
			continue
		}
		nums = append(nums, uint32(n))
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	for _, n := range nums {
		st, err := os.Stat(c.packPath(n))
		if err != nil {
			continue // a pack without data: its records point nowhere
		}
		c.sizes[n] = st.Size()
		b, err := os.ReadFile(c.idxPath(n))
		if err != nil {
			return err
		}
		size, sum := recSizeV1, false
		if bytes.HasPrefix(b, []byte(idxMagic)) {
			b, size, sum = b[len(idxMagic):], recSize, true
		}
		for ; len(b) >= size; b = b[size:] {
			if crc32.Checksum(b[:size-4], castagnoli) != binary.BigEndian.Uint32(b[size-4:]) {
				break // torn or garbage: nothing after it is trusted
			}
			var id meta.ID
			copy(id[:], b[:32])
			off := int64(binary.BigEndian.Uint64(b[32:40]))
			ln := binary.BigEndian.Uint32(b[40:44])
			if ln == recRemove {
				delete(c.index, id)
				continue
			}
			if off < 0 || off+int64(ln) > st.Size() {
				continue
			}
			loc := chunkLoc{pack: n, off: off, n: int32(ln), sum: sum}
			if sum {
				loc.crc = binary.BigEndian.Uint32(b[44:48])
			}
			c.index[id] = loc
		}
		if n > c.cur {
			c.cur = n // appends go to a new pack after the last one
		}
	}
	c.cur++ // started by the first Put
	return nil
}

// legacyPath is where caches before packs kept chunk id.
func (c *Cache) legacyPath(id meta.ID) string {
	h := id.String()
	return filepath.Join(c.dir, h[:2], h)
}

// Has reports whether chunk id is cached.
func (c *Cache) Has(id meta.ID) bool {
	if f, _, ok := c.locate(id); ok && !unlinked(f) {
		return true
	}
	_, err := os.Stat(c.legacyPath(id))
	return err == nil
}

// Put stores data as chunk id. A reader sees the whole chunk or none of it.
// A chunk already present is left as it is (content addressed). The
// checksum kept with the bytes vouches for what Put was given, so data
// must be chunk id's content: hashed by the caller, or fetched verified.
func (c *Cache) Put(id meta.ID, data []byte) error {
	if c.Has(id) {
		return nil
	}
	if len(data) >= int(recRemove) {
		return fmt.Errorf("chunk cache: %w: chunk of %d bytes", meta.ErrTooLarge, len(data))
	}
	return c.put(id, data)
}

// put appends data as chunk id to the current pack; the index then finds
// it there (wherever it was before).
func (c *Cache) put(id meta.ID, data []byte) error {
	c.mu.Lock()
	f, off, err := c.reserve(int64(len(data)))
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("chunk cache: %w", noSpace(err))
	}
	pack, idx := c.cur, c.idxs[c.cur]
	c.writing[pack]++ // Trim leaves the pack alone until the record is in
	c.mu.Unlock()
	sum := crc32.Checksum(data, castagnoli)
	_, err = f.WriteAt(data, off)
	if err == nil {
		err = writeRecord(idx, id, off, uint32(len(data)), sum)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writing[pack]--; c.writing[pack] == 0 {
		delete(c.writing, pack)
	}
	if err != nil {
		return fmt.Errorf("chunk cache: %w", noSpace(err))
	}
	c.index[id] = chunkLoc{pack: pack, off: off, n: int32(len(data)), crc: sum, sum: true}
	return nil
}

// reserve returns the current pack and the offset of n bytes appended to
// it, starting a new pack when there is none, it is full, or it was
// removed. c.mu is held.
func (c *Cache) reserve(n int64) (*os.File, int64, error) {
	f, idx := c.packs[c.cur], c.idxs[c.cur]
	if f == nil || idx == nil || c.size+n > c.packMax || unlinked(f) || unlinked(idx) {
		if f != nil {
			c.cur++
		}
		if err := c.startPack(); err != nil {
			return nil, 0, err
		}
		f = c.packs[c.cur]
	}
	off := c.size
	c.size += n
	c.sizes[c.cur] = c.size
	return f, off, nil
}

// startPack makes pack c.cur and its index log, empty (the next number
// when c.cur is taken). The logs of earlier packs stay open: a Put that
// reserved room there still has its record to write. c.mu is held.
func (c *Cache) startPack() error {
	if err := os.MkdirAll(filepath.Join(c.dir, "packs"), 0o700); err != nil {
		return err
	}
	for {
		f, err := os.OpenFile(c.packPath(c.cur), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			c.cur++ // left by an earlier run: never append to what others index
			continue
		}
		if err != nil {
			return err
		}
		idx, err := os.OpenFile(c.idxPath(c.cur), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
		if err == nil {
			if _, err = idx.WriteString(idxMagic); err != nil {
				idx.Close()
			}
		}
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			os.Remove(c.idxPath(c.cur))
			return err
		}
		c.packs[c.cur], c.idxs[c.cur], c.size = f, idx, 0
		return nil
	}
}

func writeRecord(idx *os.File, id meta.ID, off int64, n, sum uint32) error {
	var rec [recSize]byte
	copy(rec[:32], id[:])
	binary.BigEndian.PutUint64(rec[32:40], uint64(off))
	binary.BigEndian.PutUint32(rec[40:44], n)
	binary.BigEndian.PutUint32(rec[44:48], sum)
	binary.BigEndian.PutUint32(rec[48:], crc32.Checksum(rec[:recSize-4], castagnoli))
	_, err := idx.Write(rec[:]) // one O_APPEND write: records never interleave
	return err
}

// locate returns the open pack holding chunk id and where in it.
func (c *Cache) locate(id meta.ID) (*os.File, chunkLoc, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	loc, ok := c.index[id]
	if !ok {
		return nil, loc, false
	}
	f := c.packs[loc.pack]
	if f == nil {
		var err error
		if f, err = os.OpenFile(c.packPath(loc.pack), os.O_RDWR, 0); err != nil {
			delete(c.index, id)
			return nil, loc, false
		}
		c.packs[loc.pack] = f
	}
	return f, loc, true
}

// unlinked reports whether f's file was removed from the directory tree.
func unlinked(f *os.File) bool {
	st, err := f.Stat()
	if err != nil {
		return true
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && s.Nlink == 0
}

// readPacked reads chunk id from the packs into buf (sized by the caller,
// or allocated when nil). ok is false when the packs do not hold it;
// checked says that the bytes matched the checksum written with them (a
// mismatch is meta.ErrCorrupt).
func (c *Cache) readPacked(id meta.ID, buf []byte) (b []byte, ok, checked bool, err error) {
	return c.readPackedInto(id, func(n int) ([]byte, error) {
		switch {
		case buf == nil:
			return make([]byte, n), nil
		case len(buf) < n:
			return nil, fmt.Errorf("chunk %s: %w for buffer of %d", id, meta.ErrTooLarge, len(buf))
		}
		return buf[:n], nil
	})
}

// readPackedInto is readPacked reading into the slice that into returns
// for the chunk's length; into may be called again if a Trim moves the
// chunk meanwhile.
func (c *Cache) readPackedInto(id meta.ID, into func(n int) ([]byte, error)) (b []byte, ok, checked bool, err error) {
	var f *os.File
	var loc chunkLoc
	for attempt := 0; ; attempt++ {
		if f, loc, ok = c.locate(id); !ok {
			return nil, false, false, nil
		}
		if !unlinked(f) {
			break
		}
		// The cache was removed behind our back, or Trim dropped the
		// pack: what it held is gone, unless Trim moved it (then the
		// index points elsewhere now).
		c.mu.Lock()
		moved := c.index[id] != loc
		if !moved {
			delete(c.index, id)
		}
		c.mu.Unlock()
		if !moved || attempt > 0 {
			return nil, false, false, nil
		}
	}
	buf, err := into(int(loc.n))
	if err != nil {
		return nil, true, false, err
	}
	if _, err := f.ReadAt(buf[:loc.n], loc.off); err != nil {
		if errors.Is(err, os.ErrClosed) {
			// Trim dropped the pack as we read: the chunk is elsewhere
			// now, or gone.
			return c.readPackedInto(id, into)
		}
		return nil, true, false, fmt.Errorf("chunk cache: read chunk %s: %w", id, err)
	}
	b = buf[:loc.n]
	if loc.sum && crc32.Checksum(b, castagnoli) != loc.crc {
		return nil, true, false, fmt.Errorf("chunk cache: chunk %s: %w: its bytes do not match their checksum", id, meta.ErrCorrupt)
	}
	return b, true, loc.sum, nil
}

// Trim drops packs, oldest first, until the packs hold at most max bytes,
// and returns the bytes freed. keep gets the ids of one pack at a time and
// answers for each; the decision and what follows for that pack run under
// lock, so that its caller can hold off whatever would change its answer
// (a put registering a chunk again). A pack goes only if at least half its
// bytes are not kept: its kept chunks are first copied to the current
// pack. A pack mostly kept stays as it is, so a cache that its caller
// still needs whole is not copied round and round. The current pack, and
// packs with a Put under way, stay.
//
// Crash safety: the copies and their index records are written before the
// old pack is unlinked, and at Open later packs' records win, so a crash
// at any point leaves each kept chunk readable.
func (c *Cache) Trim(max int64, lock sync.Locker, keep func(ids []meta.ID) ([]bool, error)) (freed int64, err error) {
	c.mu.Lock()
	nums := make([]uint32, 0, len(c.sizes))
	for n := range c.sizes {
		nums = append(nums, n)
	}
	c.mu.Unlock()
	slices.Sort(nums) // only the packs there now: copies made below are not visited again
	for _, p := range nums {
		done, n, err := c.trimPack(p, max, lock, keep)
		freed += n
		if done || err != nil {
			return freed, err
		}
	}
	return freed, nil
}

// trimPack drops pack p as Trim says; done reports that the cache is
// within max.
func (c *Cache) trimPack(p uint32, max int64, lock sync.Locker, keep func(ids []meta.ID) ([]bool, error)) (done bool, freed int64, err error) {
	lock.Lock()
	defer lock.Unlock()
	c.mu.Lock()
	var total int64
	for _, sz := range c.sizes {
		total += sz
	}
	if total <= max {
		c.mu.Unlock()
		return true, 0, nil
	}
	size, ok := c.sizes[p]
	if !ok || p == c.cur || c.writing[p] > 0 {
		c.mu.Unlock()
		return false, 0, nil
	}
	var ids []meta.ID
	var lens []int64
	for id, loc := range c.index {
		if loc.pack == p {
			ids = append(ids, id)
			lens = append(lens, int64(loc.n))
		}
	}
	c.mu.Unlock()

	want, err := keep(ids)
	if err != nil {
		return false, 0, err
	}
	if len(want) != len(ids) {
		return false, 0, fmt.Errorf("chunk cache: trim: %d answers for %d chunks", len(want), len(ids))
	}
	var kept int64
	for i := range ids {
		if want[i] {
			kept += lens[i]
		}
	}
	if kept*2 > size {
		return false, 0, nil
	}
	for i, id := range ids {
		if !want[i] {
			continue
		}
		b, ok, checked, err := c.readPacked(id, nil)
		switch {
		case !ok || errors.Is(err, meta.ErrCorrupt):
			continue // gone meanwhile, or damaged: nothing to keep
		case err != nil:
			return false, 0, fmt.Errorf("chunk cache: trim: %w", err)
		case !checked && merkle.Keccak256(b) != id:
			// A record of an older log, without a checksum: the copy
			// gets one, so its bytes must be the chunk's first.
			continue
		}
		if err := c.put(id, b); err != nil {
			return false, 0, fmt.Errorf("chunk cache: trim: %w", err)
		}
	}

	c.mu.Lock()
	for id, loc := range c.index {
		if loc.pack == p {
			delete(c.index, id) // not kept: dropped
		}
	}
	f, idx := c.packs[p], c.idxs[p]
	delete(c.sizes, p)
	delete(c.packs, p)
	delete(c.idxs, p)
	c.mu.Unlock()
	// The pack first: an index log without its pack is skipped. A reader
	// that took the pack's file before it was closed finds it closed and
	// looks the chunk up again (readPacked).
	for _, path := range []string{c.packPath(p), c.idxPath(p)} {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, size - kept, fmt.Errorf("chunk cache: trim: %w", err)
		}
	}
	for _, f := range []*os.File{f, idx} {
		if f != nil {
			f.Close()
		}
	}
	return false, size - kept, nil
}

// Size is the bytes the cache's packs hold (chunks dropped by Remove
// included, until Trim drops their pack).
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var total int64
	for _, sz := range c.sizes {
		total += sz
	}
	return total
}

// limitPacks makes new packs at most n bytes (at least 1 MiB), so that a
// small bound on the cache is not one pack.
func (c *Cache) limitPacks(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.packMax = min(c.packMax, max(n, 1<<20))
}

// ReadInto reads chunk id into buf and returns its length; buf must be
// large enough (meta.ErrTooLarge otherwise). Bytes that do not match the
// checksum kept with them are meta.ErrCorrupt.
func (c *Cache) ReadInto(id meta.ID, buf []byte) (int, error) {
	if b, ok, _, err := c.readPacked(id, buf); ok {
		return len(b), err
	}
	f, err := os.Open(c.legacyPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("chunk %s: %w", id, meta.ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return n, nil
	case err != nil:
		return n, err
	}
	// buf is full: the chunk is exactly len(buf) long unless more follows.
	var one [1]byte
	if m, _ := f.Read(one[:]); m > 0 {
		return n, fmt.Errorf("chunk %s: %w for buffer of %d", id, meta.ErrTooLarge, len(buf))
	}
	return n, nil
}

// Get returns chunk id. checked says that its bytes matched the checksum
// kept with them, so they are what Put was given; a mismatch is
// meta.ErrCorrupt. Chunks of older caches have no checksum: they come
// back unchecked, for the caller to hash.
func (c *Cache) Get(id meta.ID) (data []byte, checked bool, err error) {
	if b, ok, checked, err := c.readPacked(id, nil); ok {
		return b, checked, err
	}
	b, err := os.ReadFile(c.legacyPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("chunk %s: %w", id, meta.ErrNotFound)
	}
	return b, false, err
}

// Remove drops chunk id from the cache (it can still be fetched from its
// providers). Its bytes stay in their pack until the pack goes.
func (c *Cache) Remove(id meta.ID) error {
	c.mu.Lock()
	_, packed := c.index[id]
	delete(c.index, id)
	var err error
	if packed {
		// In the current pack's log, read after the one that added it.
		idx := c.idxs[c.cur]
		if idx == nil || unlinked(idx) {
			if idx != nil {
				c.cur++
			}
			if err = c.startPack(); err == nil {
				idx = c.idxs[c.cur]
			}
		}
		if err == nil {
			err = writeRecord(idx, id, 0, recRemove, 0)
		}
	}
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("chunk cache: %w", err)
	}
	err = os.Remove(c.legacyPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func noSpace(err error) error {
	if errors.Is(err, errNOSPC) {
		return fmt.Errorf("%w: %w", meta.ErrNoSpace, err)
	}
	return err
}

// getPooled is Get into a pooled buffer, which the caller releases.
func (c *Cache) getPooled(id meta.ID) (buf *buffer, checked bool, err error) {
	b, ok, checked, err := c.readPackedInto(id, func(n int) ([]byte, error) {
		if buf != nil && cap(buf.full) >= n {
			buf.b = buf.full[:n] // read again after a Trim moved it
			return buf.b, nil
		}
		if buf != nil {
			buf.release()
		}
		buf = getBuffer(n)
		return buf.b, nil
	})
	if ok {
		if err != nil && buf != nil {
			buf.release()
			buf = nil
		} else if buf != nil {
			buf.b = b
		}
		return buf, checked, err
	}
	if buf != nil {
		buf.release()
	}
	// An older cache's chunk, one file each.
	d, _, err := c.Get(id)
	if err != nil {
		return nil, false, err
	}
	return &buffer{b: d, full: d}, false, nil
}

// buffer is a pooled chunk-sized byte slice: sealing and retrieval reuse
// them so the hot path does not allocate a chunk per link.
type buffer struct {
	b    []byte
	full []byte
}

var bufPool sync.Pool

func getBuffer(n int) *buffer {
	if v, ok := bufPool.Get().(*buffer); ok && cap(v.full) >= n {
		v.b = v.full[:n]
		return v
	}
	full := make([]byte, max(n, meta.DefaultChunkSize))
	return &buffer{b: full[:n], full: full}
}

func (b *buffer) release() {
	if cap(b.full) > 4*meta.DefaultChunkSize {
		return // an odd large one (a big chunkinfo): let it go
	}
	b.b = nil
	bufPool.Put(b)
}
