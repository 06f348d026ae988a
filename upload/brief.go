package upload

import (
	"context"
	"errors"
	"sync"

	"github.com/pointfs/pointfs/meta"
)

// Brief is what a directory's status needs of one file: its state and how
// much of it is still to upload.
type Brief struct {
	Known   bool // false: the engine has no such file
	State   meta.FileState
	Size    int64
	Pending int // distinct chunks not durable yet
}

// maxUploadedSet bounds the files uploadedSet remembers (about 50 bytes
// each): past it, the rest are read from the store each time.
const maxUploadedSet = 1 << 20

// uploadedSet remembers files seen uploaded, with their sizes, so that the
// status of a directory does not read every file record below it again:
// polling the status of a tree of 11,478 files while it uploaded took a
// sixth of the daemon's CPU, half of it reading file records. A file leaves
// the set when a transaction writes or deletes its record (watchStore), and
// gen counts those departures: a reader that saw a file uploaded adds it
// only if none happened since it began reading, so a record read just
// before a change cannot come back after it.
type uploadedSet struct {
	mu    sync.Mutex
	gen   uint64
	files map[meta.ID]int64
}

func newUploadedSet() *uploadedSet {
	return &uploadedSet{files: make(map[meta.ID]int64)}
}

// forget drops ids, whose records a committed transaction changed.
func (s *uploadedSet) forget(ids []meta.ID) {
	s.mu.Lock()
	for _, id := range ids {
		delete(s.files, id)
	}
	s.gen++
	s.mu.Unlock()
}

// lookup fills out for the files of ids known uploaded and returns the
// indexes of the others, with the generation to remember them under.
func (s *uploadedSet) lookup(ids []meta.ID, out []Brief) (miss []int, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, id := range ids {
		if size, ok := s.files[id]; ok {
			out[i] = Brief{Known: true, State: meta.FileUploaded, Size: size}
		} else {
			miss = append(miss, i)
		}
	}
	return miss, s.gen
}

// remember adds the files of ids at indexes done, read as uploaded after
// lookup returned gen, unless a record changed since.
func (s *uploadedSet) remember(gen uint64, ids []meta.ID, done []int, out []Brief) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	for _, i := range done {
		if len(s.files) >= maxUploadedSet {
			return
		}
		s.files[ids[i]] = out[i].Size
	}
}

// Briefs returns the Brief of each file in ids, in order, from one read of
// the store for the files not known to be uploaded already.
func (e *Engine) Briefs(ctx context.Context, ids []meta.ID) ([]Brief, error) {
	out := make([]Brief, len(ids))
	miss, gen := e.uploaded.lookup(ids, out)
	if len(miss) == 0 {
		return out, nil
	}
	var done []int
	err := e.store.View(ctx, func(tx meta.Tx) error {
		done = done[:0]
		for _, i := range miss {
			f, err := tx.File(ids[i])
			if errors.Is(err, meta.ErrNotFound) {
				out[i] = Brief{}
				continue
			}
			if err != nil {
				return err
			}
			out[i] = Brief{Known: true, State: f.State, Size: f.Size, Pending: f.Pending}
			if f.State == meta.FileUploaded {
				done = append(done, i)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.uploaded.remember(gen, ids, done, out)
	return out, nil
}

// watchStore is the store as the engine uses it: every call goes through,
// and after each read-write transaction the files it wrote or deleted
// leave the uploaded set. The engine is the only writer of file records;
// the mount's tree, written through the plain store, holds none.
type watchStore struct {
	meta.Store
	uploaded *uploadedSet
}

func (s watchStore) Update(ctx context.Context, fn func(meta.Tx) error) error {
	var w *fileWatchTx
	err := s.Store.Update(ctx, func(tx meta.Tx) error {
		w = &fileWatchTx{Tx: tx} // a conflict runs fn again: start over
		return fn(w)
	})
	// Even after an error: a failed commit may still have landed, and
	// forgetting a file only costs one more read of its record.
	if w != nil && len(w.files) > 0 {
		s.uploaded.forget(w.files)
	}
	return err
}

// fileWatchTx notes the files a transaction writes or deletes.
type fileWatchTx struct {
	meta.Tx
	files []meta.ID
}

func (t *fileWatchTx) PutFile(f *meta.File) error {
	t.files = append(t.files, f.ID)
	return t.Tx.PutFile(f)
}

func (t *fileWatchTx) DeleteFile(id meta.ID) error {
	t.files = append(t.files, id)
	return t.Tx.DeleteFile(id)
}
