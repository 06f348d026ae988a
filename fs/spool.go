package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/pointfs/pointfs/meta"
)

// spool is the local directory where written files wait for their put: one
// file per inode, named by its decimal inode number. A spool file is the
// newest content of its node while the node record says "spooled"; the
// directory itself is the index of what a crash left to upload.
type spool struct {
	dir  string
	lock *os.File // flock held while the spool is in use
}

const spoolLockName = ".lock"

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
	return &spool{dir: dir, lock: lock}, nil
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
func (s *spool) create(ino meta.Inode) (*os.File, error) {
	return os.OpenFile(s.path(ino), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
}

// open opens the existing spool file of ino read-write.
func (s *spool) open(ino meta.Inode) (*os.File, error) {
	return os.OpenFile(s.path(ino), os.O_RDWR, 0)
}

func (s *spool) remove(ino meta.Inode) {
	if err := os.Remove(s.path(ino)); err != nil && !errors.Is(err, fs.ErrNotExist) {
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
