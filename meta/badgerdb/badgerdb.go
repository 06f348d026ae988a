// Package badgerdb is the meta.Store of a data dir, on badger v4.
//
// Key layout (one byte of prefix, then fixed-width binary parts so that
// prefix scans are exact):
//
//	f id32            → File (JSON, without its chunk list)
//	x id32            → the file's chunk ids, 32 bytes each
//	c id32            → Chunk (JSON)
//	u id32            → ""   chunks in ChunkUploading: the in-flight index
//	                           (mirrored in memory, see DB.inflight; the
//	                           c, i and l records of those with links are
//	                           kept in memory too, see hot.go)
//	r chunk32 file32  → ""   chunk used by file
//	l chunk32 link16  → Link (binary, linkcodec.go; JSON if written before it)
//	i chunk32         → the chunk's link ids, 16 bytes each, ascending
//	a t8 chunk32 link16 → ""   signed links by next audit (unix ns)
//	e t8 chunk32 link16 → ""   signed links by expiry (unix ns)
//	n ino8            → Node (binary, nodecodec.go)
//	d parent8 name    → ino8
//	k name            → small named values
//	v name            → the store's own format markers
//
// Records are JSON, readable with any badger tool and tolerant of new
// fields, but for links and nodes: every state change of every link is a
// record written, and the tick and reconsider read them all the time;
// every create and attribute change writes a node, and `ls -l` reads one
// per entry. Those are binary (protowire fields, just as tolerant of new
// ones). JSON is encoded
// with goccy/go-json, byte for byte what encoding/json writes, three to
// four times faster.
// Writes are not fsynced one by one (SyncWrites off): a killed process loses
// nothing badger has accepted, which is the crash the daemon must survive;
// Sync makes the store durable against power loss where a caller needs it.
package badgerdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	json "github.com/goccy/go-json"

	"github.com/pointfs/pointfs/meta"
)

const (
	pFile   = 'f'
	pList   = 'x'
	pChunk  = 'c'
	pUpload = 'u'
	pRef    = 'r'
	pLink   = 'l'
	pLinkID = 'i'
	pAudit  = 'a'
	pExpiry = 'e'
	pNode   = 'n'
	pDirent = 'd'
	pKV     = 'k'
	pFormat = 'v'
)

// linkIDsFormat marks a store whose chunks all have their link id lists.
const linkIDsFormat = "link-ids"

// DB is a badger-backed meta.Store.
type DB struct {
	db  *badger.DB
	log *slog.Logger

	// inflight mirrors the in-flight index (the u keys) in memory, so that
	// the tick's read of it costs what is in flight and nothing else. On
	// disk, every chunk that ever finished uploading leaves a tombstone
	// under u until compaction drops it, and a prefix scan steps over each
	// one: after 100,000 chunks were uploaded, a scan that finds a handful
	// took ten times as long as in an empty store. The mirror is loaded at
	// Open and brought in step after each commit that touched u keys.
	imu      sync.RWMutex
	inflight map[meta.ID]struct{}
	// hot keeps the records of chunks in flight that have links (hot.go);
	// pending counts the commits under way that write records of a
	// chunk. Both under imu.
	hot     map[meta.ID]*hotChunk
	pending map[meta.ID]int

	// stop ends the value log's collector (collect), gcDone says it did.
	stop     chan struct{}
	stopOnce sync.Once
	gcDone   chan struct{}
}

var _ meta.Store = (*DB)(nil)

// tableCompression is how new tables are written (see Open); a variable so
// that a test can write tables as earlier releases did.
var tableCompression = options.None

// valueLogFileSize is the size at which badger starts a new value log
// file; a variable so that a test can fill several without writing
// hundreds of megabytes.
var valueLogFileSize int64 = 128 << 20

// valueLogGCEvery is how often the store rewrites value log files that are
// mostly garbage (see CollectValueLog).
var valueLogGCEvery = 10 * time.Minute

// Badger's sizes for the store. Badger builds every table (a memtable's
// flush, a compaction's output) in an allocator from a pool of eight that
// it keeps for good, and an allocator keeps what it grew to. One starts at
// twice the table size of its level, rounded up to a power of two, and
// doubles when it runs out. With 8 MiB memtables a flush (a 7.3 MiB
// table) grew each to 12 MiB: untarring Go's source tree into the mount
// kept all eight, 96 MiB, live (sampled every 0.5 s), and the live heap
// at 153-219 MB, at the daemon's memory limit. With 3 MiB memtables, whose
// tables (at most the memtable and the one transaction past it) fit the
// 4 MiB an allocator starts with, and tables of 2 MiB on every level, none
// grows: 52 MiB in all for the tree. Measured in pairs against 8 MiB
// memtables: uploading 1 GiB through the mount peaked at 164-174 MiB of
// RSS against 215-240; the tree kept 91-107 MB live against 153-182, but
// its peak RSS stayed at 288-313 MiB against 307-317, most of it the
// tables badger wrote, mapped (92-101 MiB), and the binary (45-58). The
// cost: more flushes and collections (105-116 against 64-87 for 1 GiB);
// time to durable of 256 MiB 4.49-5.45 s against 4.43-5.43, the tree
// uploaded in 90-101 s against 79-100.
const (
	memTableSize = 3 << 20
	// valueThreshold keeps records in the LSM, where they are small and
	// read often; badger requires it at most its transaction limit, 15%
	// of a memtable (460 KiB). Only the chunk list of a file of 3.5 GiB or
	// more goes to the value log, whose garbage CollectValueLog frees.
	valueThreshold = 448 << 10
	// earlierMemTableSize is what releases before this one used: their
	// write-ahead logs can hold more than a memtable of memTableSize.
	earlierMemTableSize = 8 << 20
)

// storeOptions is badger's configuration of the store in dir, with
// memtables of memTable bytes.
func storeOptions(dir string, log *slog.Logger, memTable int64) badger.Options {
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithSyncWrites(false).
		WithNumVersionsToKeep(1).
		WithValueThreshold(valueThreshold).
		WithNumCompactors(2).
		// Modest caches: the daemon's memory goal is 256 MiB in all, and
		// badger's defaults (five 64 MiB memtables, a 256 MiB block
		// cache) would take twice that by themselves.
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithValueLogFileSize(valueLogFileSize).
		// An upload rewrites every link at each of its states: ~180 MB
		// of records per GiB at redundancy 3, so memtables fill and flush
		// all the time (see memTableSize).
		WithMemTableSize(memTable).
		WithNumMemtables(3).
		WithBaseTableSize(2 << 20).
		// Tables are written through a shared mapping, so every table
		// written since start counts in the daemon's RSS until it is
		// compacted away: three level-0 tables rather than five, and 8 KiB
		// blocks (a 4 KiB block holds one ~2 KiB link record and wastes
		// the rest), keep fewer and smaller tables mapped.
		WithNumLevelZeroTables(3).
		WithBlockSize(8 << 10).
		// No compression: the records are mostly hashes, signatures and
		// peer ids, which do not compress, and a table built with it
		// holds each block twice. Badger pools its builders' buffers in
		// the Go heap (it allocates there without jemalloc): untarring
		// the Go source tree (11,500 files) into the mount kept 146 MB of
		// them live, the heap sat at the daemon's memory limit and the
		// collector ran 30 times a second, 40% of the daemon's CPU.
		// Without it (and the memory limit then at 160 MiB): 121-128 → 87-96 CPU-s
		// for that upload. Tables written with compression stay readable:
		// each table's compression is in the manifest.
		WithCompression(tableCompression)
	// Tables of one size on every level (badger doubles it per level by
	// default), so that a compaction's builder starts no larger than a
	// flush's.
	opts.TableSizeMultiplier = 1
	return opts
}

// Open opens (creating if needed) the store in dir. Only one process may
// hold a dir at a time; a second Open fails with badger's lock error.
func Open(dir string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := flushEarlierLogs(dir, log); err != nil {
		return nil, fmt.Errorf("open metadata store %s: %w", dir, err)
	}
	opts := storeOptions(dir, log, memTableSize)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open metadata store %s: %w", dir, err)
	}
	d := &DB{db: db, log: log, inflight: make(map[meta.ID]struct{}),
		hot: make(map[meta.ID]*hotChunk), pending: make(map[meta.ID]int),
		stop: make(chan struct{}), gcDone: make(chan struct{})}
	err = db.View(func(txn *badger.Txn) error {
		return (&tx{txn: txn}).scan([]byte{pUpload}, false, func(k, _ []byte) error {
			var id meta.ID
			copy(id[:], k)
			d.inflight[id] = struct{}{}
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata store %s: read in-flight index: %w", dir, err)
	}
	if err := d.indexLinkIDs(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata store %s: index link ids: %w", dir, err)
	}
	if err := d.loadHot(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata store %s: read records in flight: %w", dir, err)
	}
	go d.collect()
	return d, nil
}

// collect runs CollectValueLog every valueLogGCEvery until Close.
func (d *DB) collect() {
	defer close(d.gcDone)
	t := time.NewTicker(valueLogGCEvery)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		n, err := d.CollectValueLog()
		switch {
		case err != nil:
			d.log.Warn("collect the metadata store's value log", "err", err)
		case n > 0:
			d.log.Info("collected the metadata store's value log", "files rewritten", n)
		}
	}
}

// valueLogDiscardRatio is the share of garbage at which a value log file
// is rewritten: at most half of the space the value log takes is garbage,
// beside the file badger writes to.
const valueLogDiscardRatio = 0.5

// CollectValueLog rewrites, one after the other, the value log files that
// are at least half garbage, and returns how many it rewrote. Values of
// valueThreshold bytes or more (the chunk lists of the largest files) live
// in the value log, and badger frees none of their space by itself: every
// rewrite or deletion of such a file would leave its old list there for
// good. Badger learns what is garbage when compactions drop the keys that
// pointed to it, and never rewrites the file it is writing to.
func (d *DB) CollectValueLog() (int, error) {
	n := 0
	for {
		select {
		case <-d.stop:
			return n, nil
		default:
		}
		err := d.db.RunValueLogGC(valueLogDiscardRatio)
		switch {
		case err == nil:
			n++
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			// Nothing (more) worth rewriting, or a collection already
			// under way.
			return n, nil
		default:
			return n, fmt.Errorf("value log GC: %w", err)
		}
	}
}

// flushEarlierLogs flushes the write-ahead logs (.mem files) that an
// earlier release, with larger memtables, left unflushed (a crash, a
// kill): replayed into a memtable of memTableSize they could overflow its
// arena, and badger would end the process. Opened with the size they were
// written with, badger replays them, and Close writes them to tables. A
// log is created at twice its memtable's size, which tells them apart.
func flushEarlierLogs(dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	larger := false
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".mem") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Size() > 2*memTableSize {
			larger = true
		}
	}
	if !larger {
		return nil
	}
	db, err := badger.Open(storeOptions(dir, log, earlierMemTableSize))
	if err != nil {
		return fmt.Errorf("replay the write-ahead logs of larger memtables: %w", err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("flush the write-ahead logs of larger memtables: %w", err)
	}
	return nil
}

// indexLinkIDs writes the link id list of every chunk in a store made
// before there were such lists, once.
func (d *DB) indexLinkIDs() error {
	marker := key(pFormat, []byte(linkIDsFormat))
	done := false
	err := d.db.View(func(txn *badger.Txn) error {
		var err error
		done, err = (&tx{txn: txn}).has(marker)
		return err
	})
	if err != nil || done {
		return err
	}
	lists := make(map[meta.ID][]byte)
	err = d.db.View(func(txn *badger.Txn) error {
		return (&tx{txn: txn}).scan([]byte{pLink}, false, func(k, _ []byte) error {
			if len(k) != 32+16 {
				return nil
			}
			var c meta.ID
			copy(c[:], k)
			lists[c] = append(lists[c], k[32:]...) // ascending: keys come in order
			return nil
		})
	})
	if err != nil {
		return err
	}
	wb := d.db.NewWriteBatch()
	defer wb.Cancel()
	for c, ids := range lists {
		if err := wb.Set(key(pLinkID, c[:]), ids); err != nil {
			return err
		}
	}
	if err := wb.Set(marker, nil); err != nil {
		return err
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	if len(lists) > 0 {
		d.log.Info("indexed link ids", "chunks", len(lists))
	}
	return nil
}

// Close stops the value log's collector, then flushes and closes the
// store.
func (d *DB) Close() error {
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.gcDone
	return d.db.Close()
}

// Sync forces what was written to stable storage.
func (d *DB) Sync() error { return d.db.Sync() }

// View runs fn in a read-only transaction.
func (d *DB) View(ctx context.Context, fn func(meta.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.db.View(func(txn *badger.Txn) error { return fn(&tx{txn: txn, d: d}) })
}

// Update runs fn in a read-write transaction, retrying on conflicts.
func (d *DB) Update(ctx context.Context, fn func(meta.Tx) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := d.update(fn)
		if !errors.Is(err, badger.ErrConflict) || attempt > 100 {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Microsecond)
	}
}

// update is badger's DB.Update with the in-memory mirrors kept in step:
// the chunks whose records fn wrote are held before the commit and
// refreshed after it (hot.go).
func (d *DB) update(fn func(meta.Tx) error) error {
	if d.db.IsClosed() {
		return badger.ErrDBClosed
	}
	txn := d.db.NewTransaction(true)
	defer txn.Discard()
	t := &tx{txn: txn, d: d, update: true}
	if err := fn(t); err != nil {
		return err
	}
	d.hold(t)
	err := txn.Commit()
	d.afterCommit(t, err)
	return err
}

type tx struct {
	txn *badger.Txn
	d   *DB
	// update is set in a read-write transaction: its reads go to badger,
	// which tracks them to detect conflicts, never to the hot set.
	update bool
	// upload holds the in-flight index changes of this transaction:
	// chunk id → now in it.
	upload map[meta.ID]bool
	// touched holds the chunks whose records (c, i, l) it wrote.
	touched map[meta.ID]*touched
}

func (t *tx) setUploading(id meta.ID, up bool) {
	if t.upload == nil {
		t.upload = make(map[meta.ID]bool)
	}
	t.upload[id] = up
}

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
	return item.Value(func(b []byte) error { return decode(k, b, v) })
}

// getHotJSON is getJSON of a chunk's record (kind and link as in
// hotRecord), from the hot set when it holds the one this transaction
// would read.
func (t *tx) getHotJSON(chunk meta.ID, kind byte, link meta.LinkID, k []byte, v any) error {
	r, ok := t.hotRecord(chunk, kind, link)
	if !ok {
		return t.getJSON(k, v)
	}
	if !r.found {
		return meta.ErrNotFound
	}
	return decode(k, r.val, v)
}

// decode decodes record b of key k into v; v gets its own copy of
// everything (goccy/go-json copies its input before decoding).
func decode(k, b []byte, v any) error {
	var err error
	switch v := v.(type) {
	case *meta.Link:
		if len(b) > 0 && b[0] != '{' {
			err = decodeLink(b, v) // linkcodec.go; JSON before it
		} else {
			err = json.Unmarshal(b, v)
		}
	case *meta.Node:
		if len(b) > 0 && b[0] != '{' {
			err = decodeNode(b, v) // nodecodec.go; JSON before it
		} else {
			err = json.Unmarshal(b, v)
		}
	default:
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("%w: record %q: %v", meta.ErrCorrupt, k, err)
	}
	return nil
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
	if err := t.getHotJSON(id, pChunk, meta.LinkID{}, key(pChunk, id[:]), &c); err != nil {
		return nil, fmt.Errorf("chunk %s: %w", id, err)
	}
	return &c, nil
}

func (t *tx) PutChunk(c *meta.Chunk) error {
	t.touch(c.ID, nil, false)
	if err := t.putJSON(key(pChunk, c.ID[:]), c); err != nil {
		return err
	}
	return t.putUploading(c.ID, c.State == meta.ChunkUploading)
}

// putUploading keeps the in-flight index in step. A chunk that is not in
// it is not deleted from it: most writes of chunks that are not uploading
// (references, policy) would each leave a tombstone there.
func (t *tx) putUploading(id meta.ID, up bool) error {
	k := key(pUpload, id[:])
	if up {
		if err := t.txn.Set(k, nil); err != nil {
			return err
		}
		t.setUploading(id, true)
		return nil
	}
	// Read in this transaction, so that a concurrent change of the key
	// is a conflict, not a lost update.
	if had, err := t.has(k); err != nil || !had {
		return err
	}
	if err := t.del(k); err != nil {
		return err
	}
	t.setUploading(id, false)
	return nil
}

func (t *tx) DeleteChunk(id meta.ID) error {
	t.touch(id, nil, false)
	if err := t.putUploading(id, false); err != nil {
		return err
	}
	return t.del(key(pChunk, id[:]))
}

// Uploading reads the in-memory mirror of the in-flight index, as of the
// latest commit, with this transaction's own changes on top; in id order.
func (t *tx) Uploading(fn func(meta.ID) error) error {
	t.d.imu.RLock()
	ids := make([]meta.ID, 0, len(t.d.inflight)+len(t.upload))
	for id := range t.d.inflight {
		if up, ok := t.upload[id]; !ok || up {
			ids = append(ids, id)
		}
	}
	for id, up := range t.upload {
		if _, ok := t.d.inflight[id]; up && !ok {
			ids = append(ids, id)
		}
	}
	t.d.imu.RUnlock()
	slices.SortFunc(ids, func(a, b meta.ID) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
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
	if err := t.getHotJSON(chunk, pLink, id, key(pLink, chunk[:], id[:]), &l); err != nil {
		return nil, fmt.Errorf("link %s of chunk %s: %w", id, chunk, err)
	}
	return &l, nil
}

// Links reads the chunk's link id list, then each link by its key: point
// reads, which badger's bloom filters keep from searching the levels that
// do not hold them. A prefix scan seeks in every level of the tree, so in a
// store holding 100,000 chunks it cost half again as much as in an empty
// one, on every tick, for every chunk in flight.
func (t *tx) Links(chunk meta.ID) ([]*meta.Link, error) {
	ids, err := t.linkIDs(chunk)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	out := make([]*meta.Link, 0, len(ids)/16)
	for i := 0; i < len(ids); i += 16 {
		var l meta.Link
		k := key(pLink, chunk[:], ids[i:i+16])
		err := t.getHotJSON(chunk, pLink, meta.LinkID(ids[i:i+16]), k, &l)
		if errors.Is(err, meta.ErrNotFound) {
			return nil, fmt.Errorf("%w: link %x of chunk %s is listed but missing", meta.ErrCorrupt, ids[i:i+16], chunk)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, &l)
	}
	return out, nil
}

// linkIDs returns the chunk's link id list (16 bytes each, ascending); the
// slice is the caller's.
func (t *tx) linkIDs(chunk meta.ID) ([]byte, error) {
	if r, ok := t.hotRecord(chunk, pLinkID, meta.LinkID{}); ok {
		return bytes.Clone(r.val), nil // checked when kept; nil when missing
	}
	item, err := t.txn.Get(key(pLinkID, chunk[:]))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ids, err := item.ValueCopy(nil)
	if err == nil && len(ids)%16 != 0 {
		err = fmt.Errorf("%w: link id list of chunk %s", meta.ErrCorrupt, chunk)
	}
	return ids, err
}

// listLink adds (or, with add false, removes) id in the chunk's link id list.
func (t *tx) listLink(chunk meta.ID, id meta.LinkID, add bool) error {
	ids, err := t.linkIDs(chunk)
	if err != nil {
		return err
	}
	n := len(ids) / 16
	i, found := sort.Find(n, func(i int) int { return bytes.Compare(id[:], ids[i*16:i*16+16]) })
	switch {
	case found == add:
		return nil // already as it should be
	case add:
		ids = slices.Insert(ids, i*16, id[:]...)
	default:
		ids = slices.Delete(ids, i*16, i*16+16)
	}
	t.touch(chunk, &id, true)
	if len(ids) == 0 {
		return t.del(key(pLinkID, chunk[:]))
	}
	return t.txn.Set(key(pLinkID, chunk[:]), ids)
}

func (t *tx) PutLink(l *meta.Link) error {
	if l.ID == (meta.LinkID{}) || l.Chunk.IsZero() {
		return fmt.Errorf("%w: link %s of chunk %s: no id or no chunk", meta.ErrInvalid, l.ID, l.Chunk)
	}
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
	if err := t.listLink(l.Chunk, l.ID, true); err != nil {
		return err
	}
	t.touch(l.Chunk, &l.ID, false)
	return t.txn.Set(key(pLink, l.Chunk[:], l.ID[:]), encodeLink(l))
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
	if err := t.listLink(chunk, id, false); err != nil {
		return err
	}
	t.touch(chunk, &id, false)
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

func (t *tx) PutNode(n *meta.Node) error {
	return t.txn.Set(key(pNode, inoBytes(n.Inode)), encodeNode(n))
}

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

func (t *tx) Delete(name string) error { return t.del(key(pKV, []byte(name))) }

func (t *tx) Scan(prefix string, fn func(string, []byte) error) error {
	return t.scan(key(pKV, []byte(prefix)), true, func(k, v []byte) error {
		return fn(prefix+string(k), v)
	})
}

// badgerLogger sends badger's own log lines to slog, its chatter at debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(fmt.Sprintf(f, a...), "src", "badger") }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(fmt.Sprintf(f, a...), "src", "badger") }
func (b badgerLogger) Infof(f string, a ...any)    { b.debug(f, a) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.debug(f, a) }

// debug formats only when debug lines are kept: badger calls Debugf for
// every batch it writes, and formatting lines no one keeps was 1-2% of the
// daemon's CPU while a tree was untarred into the mount.
func (b badgerLogger) debug(f string, a []any) {
	if b.l.Enabled(context.Background(), slog.LevelDebug) {
		b.l.Debug(fmt.Sprintf(f, a...), "src", "badger")
	}
}
