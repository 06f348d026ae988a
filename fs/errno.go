package fs

import (
	"context"
	"errors"
	"io/fs"
	"syscall"

	"bazil.org/fuse"

	"github.com/pointfs/pointfs/meta"
)

// errnoTable maps the shared sentinels of package meta to the errno a
// system call returns for them. Order matters only where one error wraps
// two sentinels: the first match wins.
var errnoTable = []struct {
	err   error
	errno syscall.Errno
}{
	{meta.ErrNotFound, syscall.ENOENT},
	{meta.ErrExists, syscall.EEXIST},
	{meta.ErrNotEmpty, syscall.ENOTEMPTY},
	{meta.ErrNotDir, syscall.ENOTDIR},
	{meta.ErrIsDir, syscall.EISDIR},
	{meta.ErrInvalid, syscall.EINVAL},
	{meta.ErrNoSpace, syscall.ENOSPC},
	{meta.ErrReadOnly, syscall.EROFS},
	{meta.ErrTooLarge, syscall.EFBIG},
	{meta.ErrClosed, syscall.ESHUTDOWN},
	// Data that cannot be fetched or does not verify is an I/O error: the
	// caller must never see unverified bytes.
	{meta.ErrCorrupt, syscall.EIO},
	{meta.ErrUnavailable, syscall.EIO},
	{meta.ErrNoProviders, syscall.EIO},
}

// writable returns EROFS when the FS is read-only (Config.ReadOnly).
func (f *FS) writable() error {
	if f.cfg.ReadOnly {
		return Errno(meta.ErrReadOnly)
	}
	return nil
}

// Errno is the single place where an error of any layer becomes the errno
// the kernel returns to the caller of a system call. It returns nil for
// nil, keeps errnos that are already errnos (a spool file's ENOSPC stays
// ENOSPC), maps meta's sentinels, and makes anything else EIO.
func Errno(err error) error {
	if err == nil {
		return nil
	}
	var fe fuse.Errno
	if errors.As(err, &fe) {
		return fe
	}
	for _, e := range errnoTable {
		if errors.Is(err, e.err) {
			return fuse.Errno(e.errno)
		}
	}
	var se syscall.Errno
	if errors.As(err, &se) {
		return fuse.Errno(se)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fuse.Errno(syscall.EINTR)
	case errors.Is(err, context.DeadlineExceeded):
		return fuse.Errno(syscall.ETIMEDOUT)
	case errors.Is(err, fs.ErrNotExist):
		return fuse.Errno(syscall.ENOENT)
	case errors.Is(err, fs.ErrExist):
		return fuse.Errno(syscall.EEXIST)
	case errors.Is(err, fs.ErrPermission):
		return fuse.Errno(syscall.EACCES)
	}
	return fuse.Errno(syscall.EIO)
}
