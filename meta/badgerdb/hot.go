package badgerdb

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/pointfs/pointfs/meta"
)

// The hot set keeps in memory the records (chunk, link id list, links) of
// every chunk in the in-flight index that has links: the ones the tick
// reads on every pass. Read from badger, each of those point reads costs
// more the more levels the LSM tree has, so a tick cost a fifth more in a
// store that held 100,000 uploaded chunks than in an empty one; from
// memory it costs the same in both. Chunks in flight without links yet
// are not kept (their records would cost memory in proportion to what is
// queued, not to what is uploading); the tick reads them once, to give
// them links.
//
// The store stays the truth: the hot set is written through, never back.
// After every commit that wrote a chunk's records, the records it wrote
// are read again from badger as committed, with their versions, under
// d.imu (so the last commit to refresh reads the last state). A
// read-only transaction takes a record from the hot set only when it is
// the one its snapshot would read: no commit that writes the chunk is
// under way (pending), and the record's version is not newer than the
// transaction's read timestamp; otherwise it reads badger. Read-write
// transactions always read badger, which tracks their reads for conflict
// detection. Records are kept as the bytes badger holds and decoded on
// every read, so each caller gets its own copy.

// hotChunk holds the records of one chunk in flight.
type hotChunk struct {
	chunk hotRec
	ids   hotRec
	links map[meta.LinkID]hotRec
}

// hotRec is one record as committed: the value of its key from version
// from on (a badger commit timestamp; for a missing key, the read
// timestamp at which it was found missing). val is never changed once
// kept, so readers may use it after the lock is released.
type hotRec struct {
	val   []byte
	found bool
	from  uint64
}

// touched records which of a chunk's records a transaction wrote.
type touched struct {
	chunk, ids bool
	links      map[meta.LinkID]struct{}
}

// touch notes that the transaction wrote records of chunk (the chunk
// record when link is nil, else that link); ids: its link id list.
func (t *tx) touch(chunk meta.ID, link *meta.LinkID, ids bool) {
	if t.touched == nil {
		t.touched = make(map[meta.ID]*touched)
	}
	w := t.touched[chunk]
	if w == nil {
		w = &touched{}
		t.touched[chunk] = w
	}
	w.ids = w.ids || ids
	if link == nil {
		w.chunk = true
		return
	}
	if w.links == nil {
		w.links = make(map[meta.LinkID]struct{})
	}
	w.links[*link] = struct{}{}
}

// hold marks the chunks a transaction is about to commit records of:
// until their refresh, reads of them go to badger.
func (d *DB) hold(t *tx) {
	if len(t.touched) == 0 {
		return
	}
	d.imu.Lock()
	for id := range t.touched {
		d.pending[id]++
	}
	d.imu.Unlock()
}

// hotRecord returns the record a read-only transaction would read at k,
// when the hot set has it: kind is pChunk, pLinkID or pLink (then link
// names it).
func (t *tx) hotRecord(chunk meta.ID, kind byte, link meta.LinkID) (hotRec, bool) {
	if t.d == nil || t.update {
		return hotRec{}, false
	}
	t.d.imu.RLock()
	defer t.d.imu.RUnlock()
	h := t.d.hot[chunk]
	if h == nil || t.d.pending[chunk] > 0 {
		return hotRec{}, false
	}
	var r hotRec
	switch kind {
	case pChunk:
		r = h.chunk
	case pLinkID:
		r = h.ids
	default:
		var ok bool
		if r, ok = h.links[link]; !ok {
			return hotRec{}, false
		}
	}
	if r.from > t.txn.ReadTs() {
		return hotRec{}, false // committed after this snapshot was taken
	}
	return r, true
}

// afterCommit brings the in-flight mirror and the hot set in step with a
// transaction that committed (or, with err set, failed to) and releases
// the chunks hold marked. It reads what changed as committed now rather
// than applying the transaction's own view: two transactions may return
// from their commits in either order, and the last to read sees the last
// commit.
func (d *DB) afterCommit(t *tx, err error) {
	if len(t.upload) == 0 && len(t.touched) == 0 {
		return
	}
	d.imu.Lock()
	defer d.imu.Unlock()
	defer func() {
		for id := range t.touched {
			if d.pending[id]--; d.pending[id] <= 0 {
				delete(d.pending, id)
			}
		}
	}()
	if errors.Is(err, badger.ErrConflict) {
		return // nothing was written
	}
	if err != nil {
		// Whatever happened, nothing kept may be trusted for these.
		for id := range t.touched {
			delete(d.hot, id)
		}
		return
	}
	read := len(t.upload) > 0
	for id := range t.touched {
		if _, ok := d.inflight[id]; ok {
			read = true
		} else {
			delete(d.hot, id)
		}
	}
	if !read {
		return
	}
	verr := d.db.View(func(txn *badger.Txn) error {
		for id := range t.upload {
			_, err := txn.Get(key(pUpload, id[:]))
			switch {
			case err == nil:
				d.inflight[id] = struct{}{}
			case errors.Is(err, badger.ErrKeyNotFound):
				delete(d.inflight, id)
				delete(d.hot, id)
			default:
				return err
			}
		}
		for id, w := range t.touched {
			if err := d.refreshHot(txn, id, w); err != nil {
				delete(d.hot, id)
				return err
			}
		}
		return nil
	})
	if verr != nil {
		// Fall back on what the transaction wrote: it did commit.
		d.log.Warn("read committed in-flight records", "err", verr)
		for id, up := range t.upload {
			if up {
				d.inflight[id] = struct{}{}
			} else {
				delete(d.inflight, id)
			}
		}
		for id := range t.touched {
			delete(d.hot, id)
		}
	}
}

// refreshHot reads again, in txn, the records of chunk id that w says were
// written, and loads a chunk in flight that has links but is not kept yet.
// Called with d.imu held.
func (d *DB) refreshHot(txn *badger.Txn, id meta.ID, w *touched) error {
	if _, ok := d.inflight[id]; !ok {
		delete(d.hot, id)
		return nil
	}
	h := d.hot[id]
	fresh := h == nil
	if fresh || w.ids {
		ids, err := readRec(txn, key(pLinkID, id[:]))
		if err != nil {
			return err
		}
		if !ids.found || len(ids.val) == 0 {
			delete(d.hot, id) // no links: the tick reads it from badger
			return nil
		}
		if len(ids.val)%16 != 0 {
			return fmt.Errorf("%w: link id list of chunk %s", meta.ErrCorrupt, id)
		}
		if fresh {
			h = &hotChunk{}
		}
		// A new map, so that links no longer listed go.
		links := make(map[meta.LinkID]hotRec, len(ids.val)/16)
		for i := 0; i < len(ids.val); i += 16 {
			lid := meta.LinkID(ids.val[i : i+16])
			r, ok := h.links[lid]
			if _, written := w.links[lid]; !ok || written {
				var err error
				if r, err = readRec(txn, key(pLink, id[:], lid[:])); err != nil {
					return err
				}
				if !r.found {
					return fmt.Errorf("%w: link %x of chunk %s is listed but missing", meta.ErrCorrupt, lid, id)
				}
			}
			links[lid] = r
		}
		h.ids, h.links = ids, links
	} else {
		for lid := range w.links {
			if _, listed := h.links[lid]; !listed {
				continue // not (or no longer) one of the chunk's links
			}
			r, err := readRec(txn, key(pLink, id[:], lid[:]))
			if err != nil {
				return err
			}
			if !r.found {
				return fmt.Errorf("%w: link %x of chunk %s is listed but missing", meta.ErrCorrupt, lid, id)
			}
			h.links[lid] = r
		}
	}
	if fresh || w.chunk {
		r, err := readRec(txn, key(pChunk, id[:]))
		if err != nil {
			return err
		}
		if !r.found {
			delete(d.hot, id)
			return nil
		}
		h.chunk = r
	}
	d.hot[id] = h
	return nil
}

// loadHot fills the hot set at Open with every chunk in flight that has
// links.
func (d *DB) loadHot() error {
	return d.db.View(func(txn *badger.Txn) error {
		for id := range d.inflight {
			if err := d.refreshHot(txn, id, &touched{}); err != nil {
				// Its reads go to badger, which says what is wrong.
				delete(d.hot, id)
				d.log.Warn("keep records of a chunk in flight", "chunk", id, "err", err)
			}
		}
		return nil
	})
}

// readRec reads k as committed in txn.
func readRec(txn *badger.Txn, k []byte) (hotRec, error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return hotRec{from: txn.ReadTs()}, nil
	}
	if err != nil {
		return hotRec{}, err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return hotRec{}, err
	}
	return hotRec{val: v, found: true, from: item.Version()}, nil
}
