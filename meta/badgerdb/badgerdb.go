// Package badgerdb is the meta.Store of a data dir, on badger v4.
//
// Key layout (one byte of prefix, then fixed-width binary parts so that
// prefix scans are exact):
//
//	f id32            → File (JSON, without its chunk list)
//	x id32            → the file's chunk ids, 32 bytes each
//	c id32            → Chunk (JSON)
//	u id32            → ""   chunks in ChunkUploading: the in-flight index
//	r chunk32 file32  → ""   chunk used by file
//	l chunk32 link16  → Link (JSON)
//	a t8 chunk32 link16 → ""   signed links by next audit (unix ns)
//	e t8 chunk32 link16 → ""   signed links by expiry (unix ns)
//	n ino8            → Node (JSON)
//	d parent8 name    → ino8
//	k name            → small named values
//
// Records are JSON: readable with any badger tool and tolerant of new fields.
// Writes are not fsynced one by one (SyncWrites off): a killed process loses
// nothing badger has accepted, which is the crash the daemon must survive;
// Sync makes the store durable against power loss where a caller needs it.
package badgerdb

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/pointfs/pointfs/meta"
)

const (
	pFile   = 'f'
	pList   = 'x'
	pChunk  = 'c'
	pUpload = 'u'
	pRef    = 'r'
	pLink   = 'l'
	pAudit  = 'a'
	pExpiry = 'e'
	pNode   = 'n'
	pDirent = 'd'
	pKV     = 'k'
)

// DB is a badger-backed meta.Store.
type DB struct {
	db  *badger.DB
	log *slog.Logger
}

var _ meta.Store = (*DB)(nil)

// Open opens (creating if needed) the store in dir. Only one process may
// hold a dir at a time; a second Open fails with badger's lock error.
func Open(dir string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithSyncWrites(false).
		WithNumVersionsToKeep(1).
		WithMemTableSize(32 << 20).
		WithValueThreshold(1 << 20). // records stay in the LSM: they are small and read often
		WithNumCompactors(2)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open metadata store %s: %w", dir, err)
	}
	d := &DB{db: db, log: log}
	return d, nil
}

// Close flushes and closes the store.
func (d *DB) Close() error { return d.db.Close() }

// Sync forces what was written to stable storage.
func (d *DB) Sync() error { return d.db.Sync() }

// View runs fn in a read-only transaction.
func (d *DB) View(ctx context.Context, fn func(meta.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.db.View(func(txn *badger.Txn) error { return fn(&tx{txn: txn}) })
}

// Update runs fn in a read-write transaction, retrying on conflicts.
func (d *DB) Update(ctx context.Context, fn func(meta.Tx) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := d.db.Update(func(txn *badger.Txn) error { return fn(&tx{txn: txn}) })
		if !errors.Is(err, badger.ErrConflict) || attempt > 100 {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Microsecond)
	}
}

type tx struct{ txn *badger.Txn }

func key(prefix byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	k = append(k, prefix)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func inoBytes(ino meta.Inode) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(ino))
	return b[:]
}

func (t *tx) getJSON(k []byte, v any) error {
	item, err := t.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return meta.ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%w: record %q: %v", meta.ErrCorrupt, k, err)
		}
		return nil
	})
}

func (t *tx) putJSON(k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return t.txn.Set(k, b)
}

func (t *tx) del(k []byte) error { return t.txn.Delete(k) }

func (t *tx) has(k []byte) (bool, error) {
	_, err := t.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// scan calls fn with the key suffix after prefix (and the value, when
// values is set) of every key under prefix, in key order.
func (t *tx) scan(prefix []byte, values bool, fn func(suffix, value []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = values
	it := t.txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		k := item.Key()[len(prefix):]
		var v []byte
		if values {
			var err error
			if v, err = item.ValueCopy(nil); err != nil {
				return err
			}
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) File(id meta.ID) (*meta.File, error) {
	var f meta.File
	if err := t.getJSON(key(pFile, id[:]), &f); err != nil {
		return nil, fmt.Errorf("file %s: %w", id, err)
	}
	return &f, nil
}

func (t *tx) FileChunks(id meta.ID) ([]meta.ID, error) {
	item, err := t.txn.Get(key(pList, id[:]))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("chunk list of file %s: %w", id, meta.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var out []meta.ID
	err = item.Value(func(b []byte) error {
		if len(b)%32 != 0 {
			return fmt.Errorf("%w: chunk list of file %s", meta.ErrCorrupt, id)
		}
		out = make([]meta.ID, len(b)/32)
		for i := range out {
			copy(out[i][:], b[i*32:])
		}
		return nil
	})
	return out, err
}

func (t *tx) PutFile(f *meta.File) error {
	if f.Chunks != nil {
		b := make([]byte, 0, 32*len(f.Chunks))
		for _, c := range f.Chunks {
			b = append(b, c[:]...)
		}
		if err := t.txn.Set(key(pList, f.ID[:]), b); err != nil {
			return err
		}
	}
	h := *f
	h.Chunks = nil
	return t.putJSON(key(pFile, f.ID[:]), &h)
}

func (t *tx) DeleteFile(id meta.ID) error {
	if err := t.del(key(pList, id[:])); err != nil {
		return err
	}
	return t.del(key(pFile, id[:]))
}

func (t *tx) Files(fn func(*meta.File) error) error {
	return t.scan([]byte{pFile}, true, func(_, v []byte) error {
		var f meta.File
		if err := json.Unmarshal(v, &f); err != nil {
			return fmt.Errorf("%w: file record: %v", meta.ErrCorrupt, err)
		}
		return fn(&f)
	})
}

func (t *tx) Chunk(id meta.ID) (*meta.Chunk, error) {
	var c meta.Chunk
	if err := t.getJSON(key(pChunk, id[:]), &c); err != nil {
		return nil, fmt.Errorf("chunk %s: %w", id, err)
	}
	return &c, nil
}

func (t *tx) PutChunk(c *meta.Chunk) error {
	if err := t.putJSON(key(pChunk, c.ID[:]), c); err != nil {
		return err
	}
	if c.State == meta.ChunkUploading {
		return t.txn.Set(key(pUpload, c.ID[:]), nil)
	}
	return t.del(key(pUpload, c.ID[:]))
}

func (t *tx) DeleteChunk(id meta.ID) error {
	if err := t.del(key(pUpload, id[:])); err != nil {
		return err
	}
	return t.del(key(pChunk, id[:]))
}

func (t *tx) Uploading(fn func(meta.ID) error) error {
	return t.scan([]byte{pUpload}, false, func(k, _ []byte) error {
		var id meta.ID
		copy(id[:], k)
		return fn(id)
	})
}

func (t *tx) AddChunkRef(chunk, file meta.ID) error {
	return t.txn.Set(key(pRef, chunk[:], file[:]), nil)
}

func (t *tx) RemoveChunkRef(chunk, file meta.ID) error {
	return t.del(key(pRef, chunk[:], file[:]))
}

func (t *tx) ChunkFiles(chunk meta.ID) ([]meta.ID, error) {
	var out []meta.ID
	err := t.scan(key(pRef, chunk[:]), false, func(k, _ []byte) error {
		var id meta.ID
		copy(id[:], k)
		out = append(out, id)
		return nil
	})
	return out, err
}

func (t *tx) Link(chunk meta.ID, id meta.LinkID) (*meta.Link, error) {
	var l meta.Link
	if err := t.getJSON(key(pLink, chunk[:], id[:]), &l); err != nil {
		return nil, fmt.Errorf("link %s of chunk %s: %w", id, chunk, err)
	}
	return &l, nil
}

func (t *tx) Links(chunk meta.ID) ([]*meta.Link, error) {
	var out []*meta.Link
	err := t.scan(key(pLink, chunk[:]), true, func(_, v []byte) error {
		var l meta.Link
		if err := json.Unmarshal(v, &l); err != nil {
			return fmt.Errorf("%w: link record: %v", meta.ErrCorrupt, err)
		}
		out = append(out, &l)
		return nil
	})
	return out, err
}

func (t *tx) PutLink(l *meta.Link) error {
	// Only signed links are indexed, and only a link becoming or leaving
	// signed changes the index: links on their way there (most writes)
	// skip reading the old record.
	if l.State == meta.LinkSigned || l.State == meta.LinkFailed {
		if err := t.unindexLink(l.Chunk, l.ID); err != nil {
			return err
		}
	}
	if l.State == meta.LinkSigned {
		if err := t.txn.Set(dueKey(pExpiry, l.Expires, l.Chunk, l.ID), nil); err != nil {
			return err
		}
		if !l.NextAudit.IsZero() {
			if err := t.txn.Set(dueKey(pAudit, l.NextAudit, l.Chunk, l.ID), nil); err != nil {
				return err
			}
		}
	}
	return t.putJSON(key(pLink, l.Chunk[:], l.ID[:]), l)
}

// unindexLink removes the due-time entries of the stored version of a link.
func (t *tx) unindexLink(chunk meta.ID, id meta.LinkID) error {
	old, err := t.Link(chunk, id)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if old.State != meta.LinkSigned {
		return nil
	}
	if err := t.del(dueKey(pExpiry, old.Expires, chunk, id)); err != nil {
		return err
	}
	if !old.NextAudit.IsZero() {
		return t.del(dueKey(pAudit, old.NextAudit, chunk, id))
	}
	return nil
}

func (t *tx) DeleteLink(chunk meta.ID, id meta.LinkID) error {
	if err := t.unindexLink(chunk, id); err != nil {
		return err
	}
	return t.del(key(pLink, chunk[:], id[:]))
}

func dueKey(prefix byte, at time.Time, chunk meta.ID, id meta.LinkID) []byte {
	var ts [8]byte
	n := at.UnixNano()
	if n < 0 {
		n = 0
	}
	binary.BigEndian.PutUint64(ts[:], uint64(n))
	return key(prefix, ts[:], chunk[:], id[:])
}

func (t *tx) AuditsDue(at time.Time, limit int, fn func(meta.ID, meta.LinkID) error) error {
	return t.due(pAudit, at, limit, fn)
}

func (t *tx) Expiring(at time.Time, limit int, fn func(meta.ID, meta.LinkID) error) error {
	return t.due(pExpiry, at, limit, fn)
}

var errEnough = errors.New("enough")

func (t *tx) due(prefix byte, at time.Time, limit int, fn func(meta.ID, meta.LinkID) error) error {
	end := uint64(max(at.UnixNano(), 0))
	n := 0
	err := t.scan([]byte{prefix}, false, func(k, _ []byte) error {
		if len(k) != 8+32+16 || binary.BigEndian.Uint64(k[:8]) > end || n >= limit {
			return errEnough
		}
		n++
		var c meta.ID
		var l meta.LinkID
		copy(c[:], k[8:40])
		copy(l[:], k[40:])
		return fn(c, l)
	})
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

func (t *tx) Node(ino meta.Inode) (*meta.Node, error) {
	var n meta.Node
	if err := t.getJSON(key(pNode, inoBytes(ino)), &n); err != nil {
		return nil, fmt.Errorf("inode %d: %w", ino, err)
	}
	return &n, nil
}

func (t *tx) PutNode(n *meta.Node) error { return t.putJSON(key(pNode, inoBytes(n.Inode)), n) }

func (t *tx) DeleteNode(ino meta.Inode) error { return t.del(key(pNode, inoBytes(ino))) }

func (t *tx) Lookup(parent meta.Inode, name string) (meta.Inode, error) {
	item, err := t.txn.Get(key(pDirent, inoBytes(parent), []byte(name)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, fmt.Errorf("%q in inode %d: %w", name, parent, meta.ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	var ino meta.Inode
	err = item.Value(func(b []byte) error {
		if len(b) != 8 {
			return fmt.Errorf("%w: dirent %q", meta.ErrCorrupt, name)
		}
		ino = meta.Inode(binary.BigEndian.Uint64(b))
		return nil
	})
	return ino, err
}

func (t *tx) PutDirent(parent meta.Inode, name string, ino meta.Inode) error {
	return t.txn.Set(key(pDirent, inoBytes(parent), []byte(name)), inoBytes(ino))
}

func (t *tx) DeleteDirent(parent meta.Inode, name string) error {
	return t.del(key(pDirent, inoBytes(parent), []byte(name)))
}

func (t *tx) ReadDir(parent meta.Inode, fn func(string, meta.Inode) error) error {
	return t.scan(key(pDirent, inoBytes(parent)), true, func(k, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("%w: dirent %q", meta.ErrCorrupt, k)
		}
		return fn(string(k), meta.Inode(binary.BigEndian.Uint64(v)))
	})
}

func (t *tx) Get(name string) ([]byte, error) {
	item, err := t.txn.Get(key(pKV, []byte(name)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("value %q: %w", name, meta.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func (t *tx) Put(name string, value []byte) error {
	return t.txn.Set(key(pKV, []byte(name)), value)
}

// badgerLogger sends badger's own log lines to slog, its chatter at debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(fmt.Sprintf(f, a...), "src", "badger") }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(fmt.Sprintf(f, a...), "src", "badger") }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(fmt.Sprintf(f, a...), "src", "badger") }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug(fmt.Sprintf(f, a...), "src", "badger") }
