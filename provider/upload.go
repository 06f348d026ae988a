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
// it is rebuilt by hashing what the replica's region holds, so an upload
// resumes where it was and only the missing segments need to be sent again.
type upload struct {
	mu      sync.Mutex // held while loading, writing a segment, completing
	root    meta.ID
	err     error   // loading failed, or the server closed
	rec     *record // map fields are immutable once loaded
	hash    merkle.Hasher
	have    []bool
	missing int
	f       *os.File // the replica's pack, or its .part file (Pack 0)
	base    int64    // where the replica starts in f
	own     bool     // f is the replica's own file, closed with the upload
	done    bool     // complete
	touched time.Time
}

// closeFile lets go of u's file, closing it if it is u's own (a pack is
// shared, and the store closes it). u.mu is held.
func (u *upload) closeFile() error {
	f, own := u.f, u.own
	u.f, u.own = nil, false
	if f == nil || !own {
		return nil
	}
	return f.Close()
}

// upload returns the in-memory upload of root, loading it from the index
// (and re-checking what its region holds) the first time. It fails with
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
	// Load outside s.mu: a resume scan reads the whole replica, and
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

// load fills u from the index and what the replica's region holds. u.mu is
// held.
func (s *Server) load(u *upload) error {
	rec, err := s.store.record(u.root)
	if err != nil {
		return err
	}
	if rec.Complete {
		return errComplete
	}
	if err := s.prepare(u, rec); err != nil {
		return err
	}
	if err := s.rescan(u); err != nil {
		return err
	}
	if u.missing == 0 {
		return s.complete(u)
	}
	var left int64
	for i, have := range u.have {
		if !have {
			_, n := rec.segment(i)
			left += int64(n)
		}
	}
	s.mu.Lock()
	s.promised.set(replicaPromise(u.root), left)
	s.mu.Unlock()
	return nil
}

// prepare fills u for rec, with no segment present yet, and opens where
// its segments go. u.mu is held.
func (s *Server) prepare(u *upload, rec *record) error {
	h, err := merkle.HasherFor(rec.Hash)
	if err != nil {
		return err
	}
	u.rec, u.hash, u.touched = rec, h, time.Now()
	u.have = make([]bool, len(rec.Hashes))
	u.missing = len(rec.Hashes)
	if rec.Pack != 0 {
		u.f, err = s.store.packs.file(rec.Pack)
		u.base = rec.Off
		return err
	}
	// Stored before packs: its own file, resumed where it is.
	part := s.store.legacyPartPath(u.root)
	if _, err := os.Stat(s.store.legacyPath(u.root)); err == nil {
		// A crash came between the rename and the index update.
		part = s.store.legacyPath(u.root)
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		// Its shard was removed since.
		if err := os.MkdirAll(filepath.Dir(part), 0o700); err != nil {
			return err
		}
		f, err = os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	}
	if err != nil {
		return fmt.Errorf("provider: open replica: %w", err)
	}
	u.f, u.own = f, true
	return nil
}

// begin keeps in memory the upload of a record just made, so that its
// first segment does not load it: its region was never written, and the
// resume scan would hash SealedLen bytes of zeros for nothing. A failure
// is only logged: the first segment loads the upload then.
func (s *Server) begin(root meta.ID, rec *record) {
	u := &upload{root: root}
	if err := s.prepare(u, rec); err != nil {
		s.log.Warn("begin upload", "root", root, "err", err)
		u.closeFile()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.uploads[root] != nil {
		u.closeFile() // a segment came first and loads it
		return
	}
	s.uploads[root] = u
}

// rescan marks the segments the replica's region already holds intact.
func (s *Server) rescan(u *upload) error {
	st, err := u.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size() - u.base // of the region, if the file is short
	if size <= 0 {
		return nil
	}
	buf := make([]byte, u.rec.SegSize)
	for i := range u.have {
		off, n := u.rec.segment(i)
		if off+int64(n) > size {
			break
		}
		if _, err := u.f.ReadAt(buf[:n], u.base+off); err != nil && !errors.Is(err, io.EOF) {
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

// complete marks the finished replica complete in the index (one stored
// before packs is first renamed into place). u.mu is held. Durability
// comes later, from the group sync that precedes any pledge.
func (s *Server) complete(u *upload) error {
	if final := s.store.legacyPath(u.root); u.own && u.f.Name() != final {
		if err := os.Rename(u.f.Name(), final); err != nil {
			return fmt.Errorf("provider: complete replica: %w", err)
		}
	}
	if err := u.closeFile(); err != nil {
		return fmt.Errorf("provider: complete replica: %w", err)
	}
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
	s.promised.set(replicaPromise(u.root), 0)
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
	if _, err := u.f.WriteAt(data, u.base+off); err != nil {
		return fmt.Errorf("provider: write segment: %w", err)
	}
	u.have[i] = true
	u.missing--
	u.touched = time.Now()
	s.mu.Lock()
	s.promised.wrote(replicaPromise(u.root), int64(len(data)))
	s.mu.Unlock()
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

// forget drops u from memory, letting go of its file. u.mu is held.
func (s *Server) forget(u *upload) {
	u.closeFile()
	s.mu.Lock()
	if s.uploads[u.root] == u {
		delete(s.uploads, u.root)
	}
	s.mu.Unlock()
}
