package provider

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/pointfs/pointfs/meta"
)

// replicaPackSize bounds a pack file: a region that would end past it
// starts the next pack (a replica larger than the bound gets a pack of its
// own). A variable so that tests can lower it.
var replicaPackSize int64 = 4 << 30

// packAlign aligns regions on filesystem blocks, so that no block holds
// two replicas and punching a deleted one's region frees all its blocks
// (punch relies on it: it must never shrink). The padding is a hole: it
// costs no space.
const packAlign = 4 << 10

func alignUp(n int64) int64 { return (n + packAlign - 1) / packAlign * packAlign }

// packs are the append-only files replicas live in, DataDir/packs/
// NNNNNNNN.pack, numbered from 1. A replica owns a region reserved when its
// record is made and freed by punching a hole; a file per replica cost an
// inode creation, a rename and an open per read, which profiles of an
// upload showed at several percent of all CPU.
type packs struct {
	dir string
	log *slog.Logger

	mu  sync.Mutex // orders reservations: each grows the file past the last
	cur uint32     // the pack regions are appended to
	end int64      // where cur's last region ends
	// live counts the regions of each pack that a record (or a map being
	// accepted) holds. A pack other than cur whose count falls to zero is
	// deleted: on filesystems that punch holes it holds no blocks any
	// more, but it kept a file and an open descriptor for good; on the
	// others it still held all the space of its deleted replicas.
	live map[uint32]int
	gone map[uint32]bool // deleted: not opened (nor created) again

	filesMu sync.Mutex
	files   map[uint32]*os.File // opened on demand, kept until Close

	warnPunch sync.Once
}

func packName(n uint32) string { return fmt.Sprintf("%08d.pack", n) }

// packNumber is packName's inverse; ok is false for other names.
func packNumber(name string) (n uint32, ok bool) {
	num, ok := strings.CutSuffix(name, ".pack")
	v, err := strconv.ParseUint(num, 10, 32)
	return uint32(v), ok && err == nil && len(num) == 8
}

// openPacks finds the last pack in dir and appends after its end. Its
// size covers every region committed to the index (reserve grows it first),
// so nothing reserved before a crash is handed out again; claim covers the
// case where the index outlived the file's size.
func openPacks(dir string, log *slog.Logger) (*packs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("provider: packs dir: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("provider: packs dir: %w", err)
	}
	p := &packs{dir: dir, log: log, cur: 1, files: make(map[uint32]*os.File),
		live: make(map[uint32]int), gone: make(map[uint32]bool)}
	last := uint32(0)
	for _, e := range ents {
		if n, ok := packNumber(e.Name()); ok && n > last {
			last = n
		}
	}
	if last > 0 {
		st, err := os.Stat(filepath.Join(dir, packName(last)))
		if err != nil {
			return nil, fmt.Errorf("provider: packs dir: %w", err)
		}
		p.cur, p.end = last, st.Size()
	}
	return p, nil
}

// claim tells p that a committed record holds pack up to end, so that
// reservations go past it even if the pack's size was lost (a power cut
// can keep the index's write and lose the file's growth).
func (p *packs) claim(pack uint32, end int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live[pack]++
	switch {
	case pack > p.cur:
		p.cur, p.end = pack, end
	case pack == p.cur:
		p.end = max(p.end, end)
	}
}

// reserve returns a region of n bytes at the end of the current pack,
// starting a new pack when it would pass replicaPackSize. The file is
// grown to cover the region before reserve returns (sparse: no block is
// written), so the caller may commit a record of it. A full disk is
// meta.ErrNoSpace.
func (p *packs) reserve(n int64) (pack uint32, off int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	off = alignUp(p.end)
	if p.end > 0 && off+n > replicaPackSize {
		p.cur, p.end, off = p.cur+1, 0, 0
	}
	f, err := p.file(p.cur)
	if err != nil {
		return 0, 0, err
	}
	if err := f.Truncate(off + n); err != nil {
		if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG) {
			err = fmt.Errorf("%w: %w", meta.ErrNoSpace, err)
		}
		return 0, 0, fmt.Errorf("provider: grow pack %d: %w", p.cur, err)
	}
	p.end = off + n
	p.live[p.cur]++
	return p.cur, off, nil
}

// unreserve gives back a region reserve handed out that no record came to
// hold (its map failed to commit): nothing was written in it.
func (p *packs) unreserve(n uint32) { p.release(n) }

// release counts a region of pack n as no longer held, and deletes the
// pack once it holds none and is not the one regions are appended to.
func (p *packs) release(n uint32) {
	p.mu.Lock()
	p.live[n]--
	empty := p.live[n] <= 0 && n != p.cur
	if empty {
		delete(p.live, n)
	}
	p.mu.Unlock()
	if empty {
		p.remove(n)
	}
}

// remove closes and deletes pack n.
func (p *packs) remove(n uint32) {
	p.filesMu.Lock()
	defer p.filesMu.Unlock()
	if p.files == nil {
		return // closed: the next start finds it unused
	}
	p.gone[n] = true
	if f := p.files[n]; f != nil {
		f.Close()
		delete(p.files, n)
	}
	if err := os.Remove(filepath.Join(p.dir, packName(n))); err != nil && !errors.Is(err, os.ErrNotExist) {
		p.log.Warn("delete an empty pack", "pack", n, "err", err)
		return
	}
	p.log.Info("deleted a pack that holds no replica any more", "pack", n)
}

// dropUnused deletes the pack files, other than the current one, that no
// record holds a region of (claim counted them): their replicas were all
// deleted, or a crash came between a region's reservation and its record.
func (p *packs) dropUnused() error {
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		return fmt.Errorf("provider: packs dir: %w", err)
	}
	p.mu.Lock()
	var unused []uint32
	for _, e := range ents {
		if n, ok := packNumber(e.Name()); ok && n != p.cur && p.live[n] == 0 {
			unused = append(unused, n)
		}
	}
	p.mu.Unlock()
	for _, n := range unused {
		p.remove(n)
	}
	return nil
}

// file returns pack n, opened read-write (and created: a record may name a
// pack whose file a power cut lost; its replica then reads short).
func (p *packs) file(n uint32) (*os.File, error) {
	p.filesMu.Lock()
	defer p.filesMu.Unlock()
	if f := p.files[n]; f != nil {
		return f, nil
	}
	if p.files == nil {
		return nil, meta.ErrClosed
	}
	if p.gone[n] {
		return nil, fmt.Errorf("provider: pack %d: %w (deleted: it held no replica)", n, meta.ErrNotFound)
	}
	f, err := os.OpenFile(filepath.Join(p.dir, packName(n)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("provider: open pack: %w", err)
	}
	p.files[n] = f
	return f, nil
}

// readAt reads len(buf) bytes at off in pack n.
func (p *packs) readAt(n uint32, buf []byte, off int64) error {
	f, err := p.file(n)
	if err != nil {
		return err
	}
	if _, err := f.ReadAt(buf, off); err != nil {
		return fmt.Errorf("provider: read %d bytes at %d of pack %d: %w", len(buf), off, n, err)
	}
	return nil
}

// punch frees the blocks of a region nobody holds any more; the pack keeps
// its size, so offsets stay valid. A filesystem that cannot punch holes
// keeps the space used: warned about once, not an error. The region is
// released: a pack that holds none any more is deleted.
func (p *packs) punch(n uint32, off, length int64) error {
	f, err := p.file(n)
	if err != nil {
		return err
	}
	// Up to the next region's start, so that the block holding the
	// region's tail is freed, not only zeroed.
	length = alignUp(off+length) - off
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var perr error
	err = rc.Control(func(fd uintptr) {
		perr = unix.Fallocate(int(fd), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, length)
	})
	if err == nil {
		err = perr
	}
	if errors.Is(err, unix.EOPNOTSUPP) {
		p.warnPunch.Do(func() {
			p.log.Warn("the data dir's filesystem cannot punch holes: deleted replicas keep their space until all of their pack's are deleted", "dir", p.dir)
		})
		err = nil
	}
	if err != nil {
		return fmt.Errorf("provider: free %d bytes at %d of pack %d: %w", length, off, n, err)
	}
	p.release(n)
	return nil
}

// Close closes the pack files; p opens none after it.
func (p *packs) Close() error {
	p.filesMu.Lock()
	defer p.filesMu.Unlock()
	var errs []error
	for _, f := range p.files {
		errs = append(errs, f.Close())
	}
	p.files = nil
	return errors.Join(errs...)
}
