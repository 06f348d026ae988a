package badgerdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/pointfs/pointfs/meta"
)

func open(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestRecordsSurviveReopenAndIndexFollowsState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)

	a, b := meta.ID{1}, meta.ID{2}
	file := &meta.File{ID: meta.ID{9}, Size: 10, Chunks: []meta.ID{a, b}, State: meta.FileUploading, Pending: 3}
	link := &meta.Link{ID: meta.NewLinkID(), Chunk: a, Provider: "p", State: meta.LinkSendingData,
		Segments: []meta.ID{{7}}, Progress: []meta.SegmentProgress{{SentAt: 5, Tries: 1}}}
	err := db.Update(ctx, func(tx meta.Tx) error {
		for _, c := range []*meta.Chunk{{ID: a, State: meta.ChunkUploading}, {ID: b, State: meta.ChunkUploaded}} {
			if err := tx.PutChunk(c); err != nil {
				return err
			}
			if err := tx.AddChunkRef(c.ID, file.ID); err != nil {
				return err
			}
		}
		if err := tx.PutLink(link); err != nil {
			return err
		}
		return tx.PutFile(file)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = open(t, dir)
	defer db.Close()
	err = db.View(ctx, func(tx meta.Tx) error {
		var up []meta.ID
		if err := tx.Uploading(func(id meta.ID) error { up = append(up, id); return nil }); err != nil {
			return err
		}
		if len(up) != 1 || up[0] != a {
			t.Errorf("uploading index = %v, want [%s]", up, a)
		}
		f, err := tx.File(file.ID)
		if err != nil {
			return err
		}
		if f.Pending != 3 || f.State != meta.FileUploading || f.Chunks != nil {
			t.Errorf("file = %+v", f)
		}
		if cs, err := tx.FileChunks(file.ID); err != nil || len(cs) != 2 || cs[0] != a || cs[1] != b {
			t.Errorf("FileChunks = %v, %v", cs, err)
		}
		ls, err := tx.Links(a)
		if err != nil {
			return err
		}
		if len(ls) != 1 || ls[0].State != meta.LinkSendingData || ls[0].Progress[0].Tries != 1 {
			t.Errorf("links = %+v", ls)
		}
		refs, err := tx.ChunkFiles(b)
		if err != nil {
			return err
		}
		if len(refs) != 1 || refs[0] != file.ID {
			t.Errorf("refs = %v", refs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Moving the chunk to uploaded takes it out of the in-flight index.
	err = db.Update(ctx, func(tx meta.Tx) error {
		c, err := tx.Chunk(a)
		if err != nil {
			return err
		}
		c.State = meta.ChunkUploaded
		return tx.PutChunk(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx meta.Tx) error {
		n := 0
		_ = tx.Uploading(func(meta.ID) error { n++; return nil })
		if n != 0 {
			t.Errorf("uploading index has %d entries after upload", n)
		}
		return nil
	})
}

func TestMissingRecordsAreNotFound(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	_ = db.View(context.Background(), func(tx meta.Tx) error {
		if _, err := tx.File(meta.ID{1}); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("File: %v", err)
		}
		if _, err := tx.Lookup(meta.RootInode, "x"); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("Lookup: %v", err)
		}
		if _, err := tx.Get("k"); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("Get: %v", err)
		}
		return nil
	})
}

func TestDirents(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	defer db.Close()
	names := []string{"b", "a b", "ünï", "c"}
	err := db.Update(ctx, func(tx meta.Tx) error {
		for i, n := range names {
			if err := tx.PutDirent(meta.RootInode, n, meta.Inode(10+i)); err != nil {
				return err
			}
		}
		return tx.PutDirent(2, "other", 99)
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	_ = db.View(ctx, func(tx meta.Tx) error {
		return tx.ReadDir(meta.RootInode, func(n string, _ meta.Inode) error { got = append(got, n); return nil })
	})
	want := []string{"a b", "b", "c", "ünï"}
	if len(got) != len(want) {
		t.Fatalf("ReadDir = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ReadDir = %q, want %q", got, want)
		}
	}
}

// With 100,000 signed links, an audit round reads only the links that are
// due, earliest first, and stops at its limit; re-signing or failing a
// link moves or drops its index entries.
func TestDueIndexesReadOnlyWhatIsDue(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	defer db.Close()
	t0 := time.Unix(1_900_000_000, 0)
	const n = 100_000
	var first *meta.Link
	for start := 0; start < n; start += 1000 {
		err := db.Update(ctx, func(tx meta.Tx) error {
			for i := start; i < start+1000; i++ {
				l := &meta.Link{ID: meta.NewLinkID(), Chunk: meta.ID{byte(i), byte(i >> 8), byte(i >> 16), 1},
					State: meta.LinkSigned, Expires: t0.Add(time.Duration(i) * time.Minute),
					NextAudit: t0.Add(time.Duration(n-i) * time.Second)}
				if i == 0 {
					first = l
				}
				if err := tx.PutLink(l); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	visits := 0
	var last time.Time
	err := db.View(ctx, func(tx meta.Tx) error {
		// Due by t0+100s: the links with n-i <= 100, i.e. the last 100.
		return tx.AuditsDue(t0.Add(100*time.Second), 1000, func(c meta.ID, id meta.LinkID) error {
			visits++
			l, err := tx.Link(c, id)
			if err != nil {
				return err
			}
			if l.NextAudit.Before(last) {
				t.Errorf("not earliest first: %v after %v", l.NextAudit, last)
			}
			last = l.NextAudit
			return nil
		})
	})
	if err != nil || visits != 100 {
		t.Fatalf("audits due: %d visited, %v; want 100", visits, err)
	}
	visits = 0
	_ = db.View(ctx, func(tx meta.Tx) error {
		return tx.AuditsDue(t0.Add(time.Hour), 50, func(meta.ID, meta.LinkID) error { visits++; return nil })
	})
	if visits != 50 {
		t.Fatalf("limit 50: visited %d", visits)
	}

	// Failing link 0 takes it out of both indexes.
	first.State = meta.LinkFailed
	if err := db.Update(ctx, func(tx meta.Tx) error { return tx.PutLink(first) }); err != nil {
		t.Fatal(err)
	}
	visits = 0
	_ = db.View(ctx, func(tx meta.Tx) error {
		return tx.Expiring(t0.Add(time.Minute), 10, func(meta.ID, meta.LinkID) error { visits++; return nil })
	})
	if visits != 1 { // link 1 only
		t.Fatalf("expiring by t0+1m after failing link 0: %d, want 1", visits)
	}
}

func uploadingIDs(t *testing.T, db *DB) []meta.ID {
	t.Helper()
	var up []meta.ID
	err := db.View(context.Background(), func(tx meta.Tx) error {
		return tx.Uploading(func(id meta.ID) error { up = append(up, id); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// The in-flight index is read from memory: it must follow every commit,
// concurrent ones included, show a transaction its own changes, and come
// back from disk after a reopen.
func TestInflightMirrorFollowsCommits(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)
	const n = 64
	ids := make([]meta.ID, n)
	for i := range ids {
		ids[i] = meta.ID{byte(i), 7}
	}
	// Every chunk goes uploading → uploaded → uploading, from many
	// goroutines at once, with read-modify-write transactions that
	// conflict with each other.
	errs := make(chan error, n)
	for i := range ids {
		go func() {
			var err error
			for _, st := range []meta.ChunkState{meta.ChunkUploading, meta.ChunkUploaded, meta.ChunkUploading} {
				err = errors.Join(err, db.Update(ctx, func(tx meta.Tx) error {
					c, err := tx.Chunk(ids[i])
					if errors.Is(err, meta.ErrNotFound) {
						c, err = &meta.Chunk{ID: ids[i]}, nil
					}
					if err != nil {
						return err
					}
					c.State = st
					c.Refs++
					return tx.PutChunk(c)
				}))
			}
			errs <- err
		}()
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if up := uploadingIDs(t, db); len(up) != n {
		t.Fatalf("%d chunks uploading, want %d", len(up), n)
	}
	// Half of them finish; one transaction also sees its own change.
	err := db.Update(ctx, func(tx meta.Tx) error {
		for _, id := range ids[:n/2] {
			if err := tx.PutChunk(&meta.Chunk{ID: id, State: meta.ChunkUploaded}); err != nil {
				return err
			}
		}
		if err := tx.PutChunk(&meta.Chunk{ID: meta.ID{0xff}, State: meta.ChunkUploading}); err != nil {
			return err
		}
		k := 0
		if err := tx.Uploading(func(meta.ID) error { k++; return nil }); err != nil {
			return err
		}
		if k != n/2+1 {
			t.Errorf("inside the transaction: %d uploading, want %d", k, n/2+1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A transaction that fails leaves the index as it was.
	_ = db.Update(ctx, func(tx meta.Tx) error {
		_ = tx.PutChunk(&meta.Chunk{ID: meta.ID{0xfe}, State: meta.ChunkUploading})
		return errors.New("no")
	})
	want := append(append([]meta.ID(nil), ids[n/2:]...), meta.ID{0xff})
	check := func(up []meta.ID) {
		t.Helper()
		if len(up) != len(want) {
			t.Fatalf("uploading = %d chunks, want %d", len(up), len(want))
		}
		for i := range up {
			if up[i] != want[i] {
				t.Fatalf("uploading[%d] = %s, want %s (in id order)", i, up[i], want[i])
			}
		}
	}
	check(uploadingIDs(t, db))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir)
	defer db.Close()
	check(uploadingIDs(t, db))
}

// Links come from each chunk's link id list, which PutLink and DeleteLink
// keep; a store written before the lists existed gets them at Open.
func TestLinkIDLists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)
	c1, c2 := meta.ID{1}, meta.ID{2}
	var l1 []*meta.Link
	err := db.Update(ctx, func(tx meta.Tx) error {
		for i := range 5 {
			l := &meta.Link{ID: meta.NewLinkID(), Chunk: c1, Provider: "p", State: meta.LinkCreated, SealedLen: int64(i)}
			l1 = append(l1, l)
			if err := tx.PutLink(l); err != nil {
				return err
			}
			if err := tx.PutLink(l); err != nil { // twice: listed once
				return err
			}
		}
		return tx.PutLink(&meta.Link{ID: meta.NewLinkID(), Chunk: c2, State: meta.LinkCreated})
	})
	if err != nil {
		t.Fatal(err)
	}
	links := func(db *DB, c meta.ID) []*meta.Link {
		t.Helper()
		var ls []*meta.Link
		if err := db.View(ctx, func(tx meta.Tx) (err error) { ls, err = tx.Links(c); return err }); err != nil {
			t.Fatal(err)
		}
		return ls
	}
	if ls := links(db, c1); len(ls) != 5 {
		t.Fatalf("%d links, want 5", len(ls))
	} else {
		for i := 1; i < len(ls); i++ {
			if string(ls[i-1].ID[:]) >= string(ls[i].ID[:]) {
				t.Fatalf("links not in id order")
			}
		}
	}
	err = db.Update(ctx, func(tx meta.Tx) error {
		if err := tx.DeleteLink(c1, l1[0].ID); err != nil {
			return err
		}
		return tx.DeleteLink(c2, l1[1].ID) // not c2's: nothing happens
	})
	if err != nil {
		t.Fatal(err)
	}
	if ls := links(db, c1); len(ls) != 4 {
		t.Fatalf("%d links after a delete, want 4", len(ls))
	}
	if ls := links(db, meta.ID{3}); len(ls) != 0 {
		t.Fatalf("a chunk without links has %d", len(ls))
	}

	// Make it a store of the old format: no lists, no marker.
	err = db.db.Update(func(txn *badger.Txn) error {
		for _, k := range [][]byte{key(pLinkID, c1[:]), key(pLinkID, c2[:]), key(pFormat, []byte(linkIDsFormat))} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ls := links(db, c1); len(ls) != 0 {
		t.Fatalf("test setup: lists still there")
	}
	db.Close()
	db = open(t, dir)
	defer db.Close()
	if ls := links(db, c1); len(ls) != 4 {
		t.Fatalf("after the upgrade: %d links of c1, want 4", len(ls))
	}
	if ls := links(db, c2); len(ls) != 1 {
		t.Fatalf("after the upgrade: %d links of c2, want 1", len(ls))
	}
}

// What callers put in one transaction must fit in badger's limit, which is
// 15% of the memtable size: upload's recovery writes signed links 80 at a
// time, file references 500 chunks at a time, a voucher's payments 128
// links. This holds them with room to spare (twice as many), so a smaller
// memtable cannot quietly break them.
func TestTransactionCapacity(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	ctx := context.Background()
	now := time.Now()
	err := db.Update(ctx, func(tx meta.Tx) error {
		for i := range 256 / 3 {
			c := &meta.Chunk{ID: meta.ID{byte(i), byte(i >> 8), 1}, Size: meta.DefaultChunkSize, Redundancy: 3,
				Expires: now, Autorenew: true}
			for range 3 {
				if err := tx.PutChunk(c); err != nil {
					return err
				}
				l := &meta.Link{ID: meta.NewLinkID(), Chunk: c.ID, Provider: "16Uiu2HAmQn4sz2K7xyqF2Lg2sxpqZ5s9u4b5Rr2F3yqP1c3hYt5z",
					State: meta.LinkSigned, SegmentSize: meta.DefaultSegmentSize, SegmentHash: "blake3",
					SealedLen: meta.DefaultChunkSize, Segments: make(meta.IDList, meta.DefaultChunkSize/meta.DefaultSegmentSize),
					Expires: now, Price: "7776000000", Rate: "1",
					Pledge:   &meta.Pledge{Length: meta.DefaultChunkSize, Expires: now.Unix(), Signature: make([]byte, 65)},
					Payments: []meta.Payment{{Channel: 1, Amount: "7776000000", Cumulative: "7776000000", Acked: true}},
					Created:  now, Updated: now, NextAudit: now}
				if err := tx.PutLink(l); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("255 signed links in one transaction: %v", err)
	}
	file := meta.ID{0xf1}
	err = db.Update(ctx, func(tx meta.Tx) error {
		for i := range 1000 {
			id := meta.ID{byte(i), byte(i >> 8), 2}
			c := &meta.Chunk{ID: id, Size: meta.DefaultChunkSize, State: meta.ChunkUploading, Redundancy: 3,
				Expires: now, Refs: 1, Autorenew: true}
			if err := tx.PutChunk(c); err != nil {
				return err
			}
			if err := tx.AddChunkRef(id, file); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("1000 chunk references in one transaction: %v", err)
	}
}

// A store written by a release that compressed its tables (Snappy) opens,
// reads its records, and takes new ones.
func TestCompressedTablesOfEarlierReleasesStayReadable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	name := func(i int) string { return fmt.Sprintf("%s-%04d", strings.Repeat("photo", 20), i) }
	put := func(db *DB, from, to int) {
		t.Helper()
		err := db.Update(ctx, func(tx meta.Tx) error {
			for i := from; i < to; i++ {
				if err := tx.PutDirent(meta.RootInode, name(i), meta.Inode(100+i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(db *DB, n int) {
		t.Helper()
		got := 0
		err := db.View(ctx, func(tx meta.Tx) error {
			return tx.ReadDir(meta.RootInode, func(nm string, ino meta.Inode) error {
				if nm != name(got) || ino != meta.Inode(100+got) {
					return fmt.Errorf("entry %d: %q → %d", got, nm, ino)
				}
				got++
				return nil
			})
		})
		if err != nil || got != n {
			t.Fatalf("ReadDir: %d entries, %v; want %d", got, err, n)
		}
	}

	tableCompression = options.Snappy
	db := open(t, dir)
	tableCompression = options.None
	put(db, 0, 2000)
	if err := db.Close(); err != nil { // flushes the memtable into a table
		t.Fatal(err)
	}

	db = open(t, dir)
	compressed := false
	for _, ti := range db.db.Tables() {
		compressed = compressed || ti.OnDiskSize < ti.UncompressedSize/2
	}
	if !compressed {
		t.Fatalf("no compressed table was written: %+v", db.db.Tables())
	}
	check(db, 2000)
	put(db, 2000, 3000)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir)
	defer db.Close()
	check(db, 3000)
}

// badger's chatter reaches the log at debug level, and only there.
func TestBadgerLoggerLevels(t *testing.T) {
	for _, c := range []struct {
		level slog.Level
		want  bool
	}{{slog.LevelDebug, true}, {slog.LevelInfo, false}} {
		var buf strings.Builder
		l := badgerLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: c.level}))}
		l.Debugf("flushed %d tables", 3)
		l.Infof("replayed %s", "vlog")
		l.Warningf("slow %s", "write")
		out := buf.String()
		if got := strings.Contains(out, "flushed 3 tables") && strings.Contains(out, "replayed vlog"); got != c.want {
			t.Errorf("at %v: debug lines kept %v, want %v:\n%s", c.level, got, c.want, out)
		}
		if !strings.Contains(out, "slow write") {
			t.Errorf("at %v: warning lost:\n%s", c.level, out)
		}
	}
}

// A store that a release with 8 MiB memtables left with an unflushed
// write-ahead log (it was killed) opens, with every record in it: replayed
// into this release's smaller memtable, that log would overflow its arena
// and badger would end the process.
func TestOpenAfterCrashOfLargerMemtables(t *testing.T) {
	dir, crashed := t.TempDir(), t.TempDir()
	old, err := badger.Open(storeOptions(dir, nil, earlierMemTableSize).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte{7}, 1000)
	const n = 6000 // ~6 MiB: more than a memtable of this release holds
	for start := 0; start < n; start += 500 {
		err := old.Update(func(txn *badger.Txn) error {
			for i := start; i < start+500; i++ {
				if err := txn.Set(key(pKV, fmt.Appendf(nil, "crash/%05d", i)), value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The kill: a copy of the files as they are now, the log unflushed.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	mem := false
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		mem = mem || (strings.HasSuffix(e.Name(), ".mem") && len(b) > 2*memTableSize)
		if err := os.WriteFile(filepath.Join(crashed, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if !mem {
		t.Fatalf("no write-ahead log of the larger memtables to replay: %v", ents)
	}

	db := open(t, crashed)
	defer db.Close()
	err = db.View(context.Background(), func(tx meta.Tx) error {
		for i := range n {
			v, err := tx.Get(fmt.Sprintf("crash/%05d", i))
			if err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
			if !bytes.Equal(v, value) {
				return fmt.Errorf("record %d: %d bytes, want %d", i, len(v), len(value))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The chunk list of a file of 4 GiB (16,384 chunks, 512 KiB) is past the
// value threshold and goes to badger's value log, not the tables; it
// reads back whole, before and after a reopen.
func TestLargeChunkListInValueLog(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	ctx := context.Background()
	f := &meta.File{ID: meta.ID{0xbe}, Size: 4 << 30, ChunkSize: meta.DefaultChunkSize, Refs: 1, Chunks: bigChunkList(0)}
	if 32*len(f.Chunks) < valueThreshold {
		t.Fatalf("chunk list of %d bytes is under the value threshold", 32*len(f.Chunks))
	}
	check := func(db *DB, when string) { t.Helper(); checkChunkList(t, db, f, when) }
	if err := db.Update(ctx, func(tx meta.Tx) error { return tx.PutFile(f) }); err != nil {
		t.Fatal(err)
	}
	check(db, "written")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir)
	defer db.Close()
	check(db, "reopened")
	// The tables' files, not TableInfo.OnDiskSize: that counts the values
	// a table points to in the value log too.
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(ssts) == 0 {
		t.Fatalf("no table written: %v", err)
	}
	var tables int64
	for _, p := range ssts {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		tables += fi.Size()
	}
	if tables >= int64(32*len(f.Chunks)) {
		t.Errorf("tables hold %d bytes: the %d-byte chunk list is in them, not in the value log", tables, 32*len(f.Chunks))
	}
}

// TestValueLogCollected rewrites the chunk list of a 4 GiB file 24 times (a
// large file saved again and again), and then deletes the file: the old
// lists, in the value log, are garbage, and CollectValueLog must give
// their space back while the records still in use read back whole.
func TestValueLogCollected(t *testing.T) {
	defer func(n int64) { valueLogFileSize = n }(valueLogFileSize)
	valueLogFileSize = 2 << 20
	dir := t.TempDir()
	ctx := context.Background()
	db := open(t, dir)
	big := &meta.File{ID: meta.ID{0xbe}, Size: 4 << 30, ChunkSize: meta.DefaultChunkSize, Refs: 1}
	kept := &meta.File{ID: meta.ID{0xbf}, Size: 4 << 30, ChunkSize: meta.DefaultChunkSize, Refs: 1, Chunks: bigChunkList(200)}
	put := func(f *meta.File) {
		t.Helper()
		if err := db.Update(ctx, func(tx meta.Tx) error { return tx.PutFile(f) }); err != nil {
			t.Fatal(err)
		}
	}
	put(kept)
	for v := range 24 {
		big.Chunks = bigChunkList(byte(v))
		put(big)
	}
	if err := db.Update(ctx, func(tx meta.Tx) error { return tx.DeleteFile(big.ID) }); err != nil {
		t.Fatal(err)
	}
	vlogs := func() (n int, size int64) {
		t.Helper()
		ps, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			size += fi.Size()
		}
		return len(ps), size
	}
	files, before := vlogs()
	if files < 5 || before < 12<<20 {
		t.Fatalf("%d value log files of %d bytes in all: the chunk lists did not go to the value log", files, before)
	}
	// Badger learns what is garbage from the compactions that drop the
	// keys pointing to it. Four flushes (a close flushes the memtable)
	// make four level-0 tables, one more than a compaction waits for.
	for i := range 4 {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = open(t, dir)
		put(&meta.File{ID: meta.ID{0xc0, byte(i)}, Size: 1, Refs: 1, Chunks: []meta.ID{{0xc1, byte(i)}}})
	}
	if err := db.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	n, err := db.CollectValueLog()
	if err != nil {
		t.Fatal(err)
	}
	files2, after := vlogs()
	t.Logf("value log: %d files, %d bytes; %d rewritten; then %d files, %d bytes", files, before, n, files2, after)
	if n == 0 || after > before/2 {
		t.Errorf("value log of %d bytes after collection (%d files rewritten), %d before", after, n, before)
	}
	check := func(db *DB, when string) {
		t.Helper()
		checkChunkList(t, db, kept, when)
		err := db.View(ctx, func(tx meta.Tx) error {
			_, err := tx.File(big.ID)
			return err
		})
		if !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("%s: deleted file: %v, want %v", when, err, meta.ErrNotFound)
		}
	}
	check(db, "collected")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir)
	defer db.Close()
	check(db, "reopened")
}

// bigChunkList is the chunk list of a 4 GiB file (512 KiB, past the value
// threshold); v tells lists apart.
func bigChunkList(v byte) []meta.ID {
	ids := make([]meta.ID, 16384)
	for i := range ids {
		ids[i] = meta.ID{byte(i), byte(i >> 8), v, 0xcc}
	}
	return ids
}

// checkChunkList fails t unless db holds f's record and its whole chunk
// list.
func checkChunkList(t *testing.T, db *DB, f *meta.File, when string) {
	t.Helper()
	err := db.View(context.Background(), func(tx meta.Tx) error {
		got, err := tx.FileChunks(f.ID)
		if err != nil {
			return err
		}
		if !slices.Equal(got, f.Chunks) {
			return fmt.Errorf("%d chunks, want %d", len(got), len(f.Chunks))
		}
		_, err = tx.File(f.ID)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
}
