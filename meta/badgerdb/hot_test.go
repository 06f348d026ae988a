package badgerdb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/pointfs/pointfs/meta"
)

// hotOf returns a copy of what the hot set keeps of chunk, nil if nothing.
func hotOf(db *DB, chunk meta.ID) *hotChunk {
	db.imu.RLock()
	defer db.imu.RUnlock()
	h := db.hot[chunk]
	if h == nil {
		return nil
	}
	c := *h
	c.links = make(map[meta.LinkID]hotRec, len(h.links))
	for k, v := range h.links {
		c.links[k] = v
	}
	return &c
}

func readChunkLinks(t *testing.T, db *DB, id meta.ID) (*meta.Chunk, []*meta.Link) {
	t.Helper()
	var (
		c  *meta.Chunk
		ls []*meta.Link
	)
	err := db.View(context.Background(), func(tx meta.Tx) (err error) {
		if c, err = tx.Chunk(id); err != nil {
			return err
		}
		ls, err = tx.Links(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, ls
}

// The records of a chunk in flight with links are kept in memory and
// read from there, follow every commit, go when the chunk leaves flight
// or loses its links, and come back at Open.
func TestHotSetFollowsChunksInFlight(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)
	a := meta.ID{1}
	put := func(fn func(tx meta.Tx) error) {
		t.Helper()
		if err := db.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	put(func(tx meta.Tx) error {
		return tx.PutChunk(&meta.Chunk{ID: a, State: meta.ChunkUploading, Redundancy: 3})
	})
	if hotOf(db, a) != nil {
		t.Fatal("a chunk without links is kept")
	}
	l1 := &meta.Link{ID: meta.NewLinkID(), Chunk: a, Provider: "p1", State: meta.LinkCreated}
	l2 := &meta.Link{ID: meta.NewLinkID(), Chunk: a, Provider: "p2", State: meta.LinkCreated}
	put(func(tx meta.Tx) error { return errors.Join(tx.PutLink(l1), tx.PutLink(l2)) })
	h := hotOf(db, a)
	if h == nil || len(h.links) != 2 || !h.chunk.found || len(h.ids.val) != 32 {
		t.Fatalf("kept after its first links: %+v", h)
	}

	// Reads come from the hot set: change what it keeps (never done
	// outside this test) and a read-only transaction sees it, a
	// read-write one does not.
	db.imu.Lock()
	r := db.hot[a].links[l1.ID]
	r.val = []byte(fmt.Sprintf(`{"id":%q,"chunk":%q,"provider":"kept"}`, l1.ID, a))
	db.hot[a].links[l1.ID] = r
	db.imu.Unlock()
	_ = db.View(ctx, func(tx meta.Tx) error {
		if l, err := tx.Link(a, l1.ID); err != nil || l.Provider != "kept" {
			t.Errorf("read-only: link = %+v, %v; want it from the hot set", l, err)
		}
		return nil
	})
	put(func(tx meta.Tx) error {
		if l, err := tx.Link(a, l1.ID); err != nil || l.Provider != "p1" {
			t.Errorf("read-write: link = %+v, %v; want it from badger", l, err)
		}
		return nil
	})

	// Writes go through: the next read sees them.
	l1.State, l1.Segments = meta.LinkEncrypted, meta.IDList{{7}, {8}}
	put(func(tx meta.Tx) error { return tx.PutLink(l1) })
	c, ls := readChunkLinks(t, db, a)
	if c.Redundancy != 3 || len(ls) != 2 {
		t.Fatalf("chunk %+v, %d links", c, len(ls))
	}
	for _, l := range ls {
		if l.ID == l1.ID && (l.State != meta.LinkEncrypted || len(l.Segments) != 2 || l.Provider != "p1") {
			t.Fatalf("link after its update: %+v", l)
		}
	}
	// Records returned are the caller's to change.
	for _, l := range ls {
		if l.ID == l1.ID {
			l.Segments[0] = meta.ID{0xee}
			l.State = meta.LinkFailed
		}
	}
	if l := findLink(readChunkLinks(t, db, a)); l.Segments[0] != (meta.ID{7}) || l.State != meta.LinkEncrypted {
		t.Fatalf("a caller's change reached the store: %+v", l)
	}
	c.Redundancy = 9
	put(func(tx meta.Tx) error { return tx.PutChunk(c) })
	if c, _ := readChunkLinks(t, db, a); c.Redundancy != 9 {
		t.Fatalf("chunk after its update: %+v", c)
	}

	// A deleted link goes; a chunk without links goes.
	put(func(tx meta.Tx) error { return tx.DeleteLink(a, l2.ID) })
	if h := hotOf(db, a); h == nil || len(h.links) != 1 {
		t.Fatalf("after a link's delete: %+v", h)
	}
	if _, ls := readChunkLinks(t, db, a); len(ls) != 1 || ls[0].ID != l1.ID {
		t.Fatalf("links after a delete: %+v", ls)
	}
	put(func(tx meta.Tx) error { return tx.DeleteLink(a, l1.ID) })
	if hotOf(db, a) != nil {
		t.Fatal("a chunk whose links were deleted is still kept")
	}
	put(func(tx meta.Tx) error { return tx.PutLink(l1) })
	if hotOf(db, a) == nil {
		t.Fatal("not kept again after a new link")
	}

	// A transaction that fails changes nothing kept.
	before := hotOf(db, a)
	_ = db.Update(ctx, func(tx meta.Tx) error {
		_ = tx.PutChunk(&meta.Chunk{ID: a, State: meta.ChunkUploaded})
		return errors.New("no")
	})
	if h := hotOf(db, a); h == nil || h.chunk.from != before.chunk.from {
		t.Fatalf("a failed transaction changed the hot set: %+v", h)
	}

	// Reopened: kept again.
	db.Close()
	db = open(t, dir)
	if h := hotOf(db, a); h == nil || len(h.links) != 1 {
		t.Fatalf("after reopen: %+v", h)
	}
	// Uploaded: out of flight, not kept.
	c.State = meta.ChunkUploaded
	put(func(tx meta.Tx) error { return tx.PutChunk(c) })
	if hotOf(db, a) != nil {
		t.Fatal("an uploaded chunk is still kept")
	}
	if c, ls := readChunkLinks(t, db, a); c.State != meta.ChunkUploaded || len(ls) != 1 {
		t.Fatalf("after upload: %+v, %d links", c, len(ls))
	}
	db.Close()
}

func findLink(_ *meta.Chunk, ls []*meta.Link) *meta.Link {
	for _, l := range ls {
		if l.State == meta.LinkEncrypted {
			return l
		}
	}
	return nil
}

// A read-only transaction reads its snapshot: a record kept from a commit
// after it began is not the one it would read, and neither is a record a
// commit under way writes.
func TestHotSetKeepsSnapshots(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	defer db.Close()
	a := meta.ID{1}
	l := &meta.Link{ID: meta.NewLinkID(), Chunk: a, Provider: "p", State: meta.LinkCreated}
	err := db.Update(ctx, func(tx meta.Tx) error {
		return errors.Join(tx.PutChunk(&meta.Chunk{ID: a, State: meta.ChunkUploading, Refs: 1}), tx.PutLink(l))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(tx meta.Tx) error {
		// A commit after this transaction began.
		err := db.Update(ctx, func(tx meta.Tx) error {
			l2 := *l
			l2.State = meta.LinkAgreed
			return errors.Join(tx.PutChunk(&meta.Chunk{ID: a, State: meta.ChunkUploading, Refs: 2}), tx.PutLink(&l2))
		})
		if err != nil {
			return err
		}
		if h := hotOf(db, a); h == nil {
			t.Error("test setup: not kept")
		}
		c, ls, err := chunkAndLinks(tx, a)
		if err != nil {
			return err
		}
		if c.Refs != 1 || ls[0].State != meta.LinkCreated {
			t.Errorf("an older snapshot read the newer commit: refs %d, link %s", c.Refs, ls[0].State)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A commit under way (held, not yet refreshed): badger answers.
	db.imu.Lock()
	db.pending[a]++
	db.imu.Unlock()
	err = db.db.Update(func(txn *badger.Txn) error {
		return txn.Set(key(pChunk, a[:]), []byte(`{"refs":3,"state":"uploading"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := readChunkLinks(t, db, a); c.Refs != 3 {
		t.Errorf("a held chunk read from the hot set: refs %d", c.Refs)
	}
	db.imu.Lock()
	delete(db.pending, a)
	db.imu.Unlock()
}

func chunkAndLinks(tx meta.Tx, id meta.ID) (*meta.Chunk, []*meta.Link, error) {
	c, err := tx.Chunk(id)
	if err != nil {
		return nil, nil, err
	}
	ls, err := tx.Links(id)
	return c, ls, err
}

// Concurrent writers of the same links (read-modify-write, conflicting)
// and readers: a reader never sees a link go back, and in the end the
// hot set holds exactly what badger holds.
func TestHotSetUnderConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	defer db.Close()
	const chunks, links, rounds = 8, 3, 40
	var ids []meta.ID
	var lids [][]meta.LinkID
	for i := range chunks {
		id := meta.ID{byte(i + 1)}
		ids = append(ids, id)
		var ls []meta.LinkID
		err := db.Update(ctx, func(tx meta.Tx) error {
			if err := tx.PutChunk(&meta.Chunk{ID: id, State: meta.ChunkUploading}); err != nil {
				return err
			}
			ls = ls[:0]
			for range links {
				l := &meta.Link{ID: meta.NewLinkID(), Chunk: id, State: meta.LinkCreated}
				ls = append(ls, l.ID)
				if err := tx.PutLink(l); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		lids = append(lids, ls)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 64)
	for ci := range chunks {
		for li := range links {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					err := db.Update(ctx, func(tx meta.Tx) error {
						l, err := tx.Link(ids[ci], lids[ci][li])
						if err != nil {
							return err
						}
						l.Retransmits++
						if err := tx.PutLink(l); err != nil {
							return err
						}
						// Every writer also bumps the chunk: conflicts.
						c, err := tx.Chunk(ids[ci])
						if err != nil {
							return err
						}
						c.Refs++
						return tx.PutChunk(c)
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			last := make(map[meta.LinkID]int)
			lastRefs := make(map[meta.ID]int)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, id := range ids {
					err := db.View(ctx, func(tx meta.Tx) error {
						c, ls, err := chunkAndLinks(tx, id)
						if err != nil {
							return err
						}
						if c.Refs < lastRefs[id] {
							return fmt.Errorf("chunk %s went back: refs %d after %d", id, c.Refs, lastRefs[id])
						}
						lastRefs[id] = c.Refs
						sum := 0
						for _, l := range ls {
							if l.Retransmits < last[l.ID] {
								return fmt.Errorf("link %s went back: %d after %d", l.ID, l.Retransmits, last[l.ID])
							}
							last[l.ID] = l.Retransmits
							sum += l.Retransmits
						}
						// One transaction wrote a link and the chunk: a
						// snapshot sees both or neither.
						if sum != c.Refs {
							return fmt.Errorf("chunk %s: refs %d, links' sum %d: not one snapshot", id, c.Refs, sum)
						}
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for ci, id := range ids {
		c, ls := readChunkLinks(t, db, id)
		if c.Refs != links*rounds || len(ls) != links {
			t.Fatalf("chunk %d: refs %d, %d links", ci, c.Refs, len(ls))
		}
		for _, l := range ls {
			if l.Retransmits != rounds {
				t.Fatalf("link %s: %d, want %d", l.ID, l.Retransmits, rounds)
			}
		}
		// What is kept is what badger holds.
		h := hotOf(db, id)
		if h == nil {
			t.Fatalf("chunk %d not kept", ci)
		}
		err := db.db.View(func(txn *badger.Txn) error {
			check := func(k []byte, r hotRec) error {
				want, err := readRec(txn, k)
				if err != nil {
					return err
				}
				if string(want.val) != string(r.val) || want.found != r.found {
					return fmt.Errorf("kept %q differs from badger's", k)
				}
				return nil
			}
			err := errors.Join(check(key(pChunk, id[:]), h.chunk), check(key(pLinkID, id[:]), h.ids))
			for lid, r := range h.links {
				err = errors.Join(err, check(key(pLink, id[:], lid[:]), r))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
