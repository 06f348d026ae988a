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

// maxKnownBriefs bounds the files briefCache remembers (some 100 bytes
// each): past it, the rest are read from the store each time.
const maxKnownBriefs = 1 << 18

// maxForgot bounds briefCache.forgot; past it, the reads under way are
// refused whole instead.
const maxForgot = 1 << 14

// briefCache remembers the Brief of files read, so that the status of a
// directory does not read every file record below it again: polling the
// status of a tree of 11,478 files while it uploaded took a sixth of the
// daemon's CPU, half of it reading file records. A file is forgotten when
// a transaction writes or deletes its record (watchStore). A read that
// began before a file was forgotten may have seen the record before the
// change, so what it read of that file is not remembered: gen numbers the
// forgets, forgot holds the last one of each file, and a read remembers
// only files not forgotten since the gen it began at.
type briefCache struct {
	mu     sync.Mutex
	gen    uint64
	floor  uint64 // reads that began before it are not remembered at all
	forgot map[meta.ID]uint64
	files  map[meta.ID]Brief
}

func newBriefCache() *briefCache {
	return &briefCache{forgot: make(map[meta.ID]uint64), files: make(map[meta.ID]Brief)}
}

// forget drops ids, whose records a committed transaction changed.
func (s *briefCache) forget(ids []meta.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if len(s.forgot)+len(ids) > maxForgot {
		clear(s.forgot)
		s.floor = s.gen
	}
	for _, id := range ids {
		delete(s.files, id)
		s.forgot[id] = s.gen
	}
}

// lookup fills out for the files of ids it knows and returns the indexes
// of the others, with the generation to remember them under.
func (s *briefCache) lookup(ids []meta.ID, out []Brief) (miss []int, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, id := range ids {
		if b, ok := s.files[id]; ok {
			out[i] = b
		} else {
			miss = append(miss, i)
		}
	}
	return miss, s.gen
}

// remember keeps what out holds for the files of ids at indexes read, read
// after lookup returned gen, but not for a file forgotten since.
func (s *briefCache) remember(gen uint64, ids []meta.ID, read []int, out []Brief) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen < s.floor {
		return
	}
	for _, i := range read {
		if len(s.files) >= maxKnownBriefs {
			return
		}
		if s.forgot[ids[i]] > gen {
			continue
		}
		s.files[ids[i]] = out[i]
	}
}

// Briefs returns the Brief of each file in ids, in order, from one read of
// the store for the files not in the cache.
func (e *Engine) Briefs(ctx context.Context, ids []meta.ID) ([]Brief, error) {
	out := make([]Brief, len(ids))
	miss, gen := e.briefs.lookup(ids, out)
	if len(miss) == 0 {
		return out, nil
	}
	var read []int
	err := e.store.View(ctx, func(tx meta.Tx) error {
		read = read[:0]
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
			read = append(read, i)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.briefs.remember(gen, ids, read, out)
	return out, nil
}

// watchStore is the store as the engine uses it: every call goes through,
// and after each read-write transaction the files it wrote or deleted
// leave the brief cache. The engine is the only writer of file records;
// the mount's tree, written through the plain store, holds none.
type watchStore struct {
	meta.Store
	briefs *briefCache
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
		s.briefs.forget(w.files)
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
