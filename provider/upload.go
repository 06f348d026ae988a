package provider

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
)

// errComplete tells a caller of (*Server).upload that the replica needs no
// more segments: it is complete.
var errComplete = errors.New("replica complete")

// upload is a replica receiving segments. It lives in memory only while
// segments arrive: which segments are present is not written to the index
// per segment (that would cost an index write per 16 KiB); after a restart
// it is rebuilt by hashing what the .part file holds, so an upload resumes
// where it was and only the missing segments need to be sent again.
type upload struct {
	mu      sync.Mutex // held while loading, writing a segment, completing
	root    meta.ID
	err     error   // loading failed, or the server closed
	rec     *record // map fields are immutable once loaded
	hash    merkle.Hasher
	have    []bool
	missing int
	f       *os.File // the .part file
	done    bool     // complete; the file was renamed
	touched time.Time
}

// upload returns the in-memory upload of root, loading it from the index
// (and re-checking the .part file) the first time. It fails with
// meta.ErrNotFound for an unknown root and errComplete for a complete one.
func (s *Server) upload(root meta.ID) (*upload, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, meta.ErrClosed
	}
	u := s.uploads[root]
	if u != nil {
		s.mu.Unlock()
		u.mu.Lock() // waits for a load in progress
		err := u.err
		done := u.done
		u.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if done {
			return nil, errComplete
		}
		return u, nil
	}
	// Load outside s.mu: a resume scan reads the whole .part file, and
	// other roots must not wait for it. Others asking for this root wait on
	// u.mu instead.
	u = &upload{root: root}
	u.mu.Lock()
	s.uploads[root] = u
	s.mu.Unlock()
	err := s.load(u)
	if err != nil {
		u.err = err
		s.forget(u)
	}
	done := u.done
	u.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if done {
		return nil, errComplete // the resume scan found every segment
	}
	return u, nil
}

// load fills u from the index and the .part file. u.mu is held.
func (s *Server) load(u *upload) error {
	rec, err := s.store.record(u.root)
	if err != nil {
		return err
	}
	if rec.Complete {
		return errComplete
	}
	h, err := merkle.HasherFor(rec.Hash)
	if err != nil {
		return err
	}
	u.rec, u.hash, u.touched = rec, h, time.Now()
	u.have = make([]bool, len(rec.Hashes))
	u.missing = len(rec.Hashes)
	part := s.store.partPath(u.root)
	if _, err := os.Stat(s.store.path(u.root)); err == nil {
		// A crash came between the rename and the index update.
		part = s.store.path(u.root)
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		// The shards are made at open (openStore); one was removed since.
		if err := os.MkdirAll(filepath.Dir(part), 0o700); err != nil {
			return err
		}
		f, err = os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	}
	if err != nil {
		return fmt.Errorf("provider: open replica: %w", err)
	}
	u.f = f
	if err := s.rescan(u); err != nil {
		return err
	}
	if u.missing == 0 {
		return s.complete(u)
	}
	return nil
}

// rescan marks the segments the file already holds intact.
func (s *Server) rescan(u *upload) error {
	st, err := u.f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	buf := make([]byte, u.rec.SegSize)
	for i := range u.have {
		off, n := u.rec.segment(i)
		if off+int64(n) > st.Size() {
			break
		}
		if _, err := u.f.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("provider: rescan replica: %w", err)
		}
		if u.hash(buf[:n]) == u.rec.Hashes[i] {
			u.have[i] = true
			u.missing--
		}
	}
	s.log.Info("resumed partial replica", "root", u.root, "have", len(u.have)-u.missing, "of", len(u.have))
	return nil
}

// complete renames the finished replica into place and marks it complete
// in the index. u.mu is held. Durability comes later, from the group sync
// that precedes any pledge.
func (s *Server) complete(u *upload) error {
	final := s.store.path(u.root)
	if u.f.Name() != final {
		if err := os.Rename(u.f.Name(), final); err != nil {
			return fmt.Errorf("provider: complete replica: %w", err)
		}
	}
	if err := u.f.Close(); err != nil {
		return fmt.Errorf("provider: complete replica: %w", err)
	}
	u.f = nil
	err := s.store.updateRecord(u.root, func(r *record) error {
		r.Complete = true
		r.Updated = time.Now().Unix()
		return nil
	})
	if err != nil {
		return err
	}
	u.done = true
	s.mu.Lock()
	if s.uploads[u.root] == u {
		delete(s.uploads, u.root)
	}
	s.partial--
	s.stored++
	s.mu.Unlock()
	return nil
}

// storeSegment writes segment i, already checked against its hash, and
// completes the replica when it was the last one missing.
func (s *Server) storeSegment(u *upload, i int, data []byte) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return u.err
	}
	if u.done || u.have[i] {
		return nil // a retransmission of what we hold
	}
	off, _ := u.rec.segment(i)
	if _, err := u.f.WriteAt(data, off); err != nil {
		return fmt.Errorf("provider: write segment: %w", err)
	}
	u.have[i] = true
	u.missing--
	u.touched = time.Now()
	if u.missing == 0 {
		if err := s.complete(u); err != nil {
			// Forget u: the next Data or SignatureRequest loads the
			// replica again, finds every segment and completes it.
			u.err = err
			s.forget(u)
			return err
		}
	}
	return nil
}

// forget drops u from memory, closing its file. u.mu is held.
func (s *Server) forget(u *upload) {
	if u.f != nil {
		u.f.Close()
		u.f = nil
	}
	s.mu.Lock()
	if s.uploads[u.root] == u {
		delete(s.uploads, u.root)
	}
	s.mu.Unlock()
}
