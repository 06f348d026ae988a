package badgerdb

import (
	"context"
	"errors"
	"testing"
	"time"

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
	for start := 0; start < n; start += 5000 {
		err := db.Update(ctx, func(tx meta.Tx) error {
			for i := start; i < start+5000; i++ {
				l := &meta.Link{ID: meta.NewLinkID(), Chunk: meta.ID{byte(i), byte(i >> 8), byte(i >> 16)},
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
