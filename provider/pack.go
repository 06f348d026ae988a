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

	filesMu sync.Mutex
	files   map[uint32]*os.File // opened on demand, kept until Close

	warnPunch sync.Once
}

func packName(n uint32) string { return fmt.Sprintf("%08d.pack", n) }

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
	p := &packs{dir: dir, log: log, cur: 1, files: make(map[uint32]*os.File)}
	last := uint32(0)
	for _, e := range ents {
		num, ok := strings.CutSuffix(e.Name(), ".pack")
		n, err := strconv.ParseUint(num, 10, 32)
		if ok && err == nil && len(num) == 8 && n > uint64(last) {
			last = uint32(n)
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
	return p.cur, off, nil
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
// keeps the space used: warned about once, not an error.
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
			p.log.Warn("the data dir's filesystem cannot punch holes: deleted replicas keep their space in the pack files", "dir", p.dir)
		})
		return nil
	}
	if err != nil {
		return fmt.Errorf("provider: free %d bytes at %d of pack %d: %w", length, off, n, err)
	}
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
