package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/pointfs/pointfs/meta"
)

// spool is the local directory where written files wait for their put: one
// file per inode, named by its decimal inode number. A spool file is the
// newest content of its node while the node record says "spooled"; the
// directory itself is the index of what a crash left to upload.
//
// A spool file whose content went to the engine is not deleted but
// emptied and kept in dir/free for the next file written: on ext4 without
// a journal (this project's CI machines), creating a file skips every
// inode deleted in the last minutes, so a spool's create-upload-delete
// churn made each create cost up to 0.5 ms of kernel time, on the FUSE
// request path of every new file.
type spool struct {
	dir  string
	lock *os.File // flock held while the spool is in use

	mu   sync.Mutex
	free []string // names in dir/free of empty files to reuse
	next uint64   // the last name given to a free file
}

const (
	spoolLockName = ".lock"
	spoolFreeDir  = "free"
)

// maxSpoolFree bounds the free files kept (empty files: an inode and a
// name each). Enough for the files of a burst of small writes, which are
// uploaded and removed together after it: deleted, they would be created
// again for the next burst, and on ext4 (Linux 6.18 here) creating a file
// soon after many were deleted scans the deleted inodes, 300-600 µs per
// create for every process on that filesystem (perf: recently_deleted in
// __ext4_new_inode). With 1024 kept, a second `touch` of 10,000 files
// right after a first took 6.5-7.0 s; with 16,384, 2.3-3.3 s.
// A variable so that a test can lower it.
var maxSpoolFree = 16384

func openSpool(dir string) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, spoolLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool %s is in use by another pointfs: %w", dir, err)
	}
	s := &spool{dir: dir, lock: lock}
	if err := s.loadFree(); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// loadFree lists the free files a previous run left.
func (s *spool) loadFree() error {
	fd := filepath.Join(s.dir, spoolFreeDir)
	if err := os.MkdirAll(fd, 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	ents, err := os.ReadDir(fd)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range ents {
		v, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.Type().IsRegular() {
			continue
		}
		s.next = max(s.next, v)
		if len(s.free) < maxSpoolFree {
			s.free = append(s.free, e.Name())
		} else {
			os.Remove(filepath.Join(fd, e.Name()))
		}
	}
	return nil
}

func (s *spool) close() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

func (s *spool) path(ino meta.Inode) string {
	return filepath.Join(s.dir, strconv.FormatUint(uint64(ino), 10))
}

// create makes (or empties) the spool file of ino, opened read-write: with
// the kernel's writeback cache a write-only descriptor may still be read.
// It takes a free file when there is one.
func (s *spool) create(ino meta.Inode) (*os.File, error) {
	p := s.path(ino)
	s.mu.Lock()
	var name string
	if k := len(s.free); k > 0 {
		name = s.free[k-1]
		s.free = s.free[:k-1]
	}
	s.mu.Unlock()
	if name != "" {
		// On failure (the free file is gone) a new file is made below.
		_ = os.Rename(filepath.Join(s.dir, spoolFreeDir, name), p)
	}
	return os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
}

// open opens the existing spool file of ino read-write.
func (s *spool) open(ino meta.Inode) (*os.File, error) {
	return os.OpenFile(s.path(ino), os.O_RDWR, 0)
}

// remove drops the spool file of ino: emptied into the free files, or
// deleted when there are enough of those. Callers close their descriptors
// of it first; a put still reading it is one whose result is dropped (its
// node is gone).
func (s *spool) remove(ino meta.Inode) {
	p := s.path(ino)
	s.mu.Lock()
	keep := len(s.free) < maxSpoolFree
	var name string
	if keep {
		s.next++
		name = strconv.FormatUint(s.next, 10)
	}
	s.mu.Unlock()
	if keep && os.Truncate(p, 0) == nil && os.Rename(p, filepath.Join(s.dir, spoolFreeDir, name)) == nil {
		s.mu.Lock()
		s.free = append(s.free, name)
		s.mu.Unlock()
		return
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		_ = err // nothing more to do: recovery removes leftovers
	}
}

func (s *spool) size(ino meta.Inode) (int64, error) {
	st, err := os.Stat(s.path(ino))
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// list returns the inodes that have a spool file.
func (s *spool) list() ([]meta.Inode, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []meta.Inode
	for _, e := range ents {
		v, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.Type().IsRegular() {
			continue
		}
		out = append(out, meta.Inode(v))
	}
	return out, nil
}
