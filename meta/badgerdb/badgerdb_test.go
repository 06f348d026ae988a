package badgerdb

import (
	"context"
	"errors"
	"testing"

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
