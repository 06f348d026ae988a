package upload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/chunkinfo"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/upload"
)

// putDir puts files and a directory chunkinfo naming them, waits until all
// are uploaded and returns the directory's id.
func putDir(t *testing.T, e *upload.Engine, files map[string][]byte) meta.ID {
	t.Helper()
	ctx := context.Background()
	var entries []chunkinfo.DirEntry
	for name, data := range files {
		id, err := e.PutFile(ctx, bytes.NewReader(data), upload.PutOptions{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		waitUploaded(t, e, id, time.Minute)
		entries = append(entries, chunkinfo.DirEntry{Type: chunkinfo.TypeFilePtr, Name: name, Size: int64(len(data)), ID: id})
	}
	dir, err := e.PutFile(ctx, bytes.NewReader(chunkinfo.EncodeDir(entries)), upload.PutOptions{Name: "dir"})
	if err != nil {
		t.Fatal(err)
	}
	waitUploaded(t, e, dir, time.Minute)
	return dir
}

// readTree adopts directory dir and its files in e, reads every file and
// checks it against want.
func readTree(t *testing.T, e *upload.Engine, dir meta.ID, want map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	if err := e.Adopt(ctx, dir, nil); err != nil {
		t.Fatalf("adopt the directory: %v", err)
	}
	entries, err := chunkinfo.DecodeDir(readAll(t, e, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Fatalf("directory has %d entries, want %d", len(entries), len(want))
	}
	for _, ent := range entries {
		if err := e.Adopt(ctx, ent.ID, nil); err != nil {
			t.Fatalf("adopt %s: %v", ent.Name, err)
		}
		if got := readAll(t, e, ent.ID); !bytes.Equal(got, want[ent.Name]) {
			t.Fatalf("%s: %d bytes read back differ from the %d written", ent.Name, len(got), len(want[ent.Name]))
		}
	}
}

// With its data dir gone, a client with the same key finds every replica
// again from the providers' tags, and reads every file; another key finds
// nothing of it.
func TestRecoverLinksWithKeyAlone(t *testing.T) {
	servers := startProviders(t, healthy(4)...)
	ctx := context.Background()
	dir1 := t.TempDir()
	c1 := openClient(t, dir1, servers, nil)
	files := map[string][]byte{
		"empty": {},
		"small": randomBytes(t, 1000),
		"big":   randomBytes(t, 3*256<<10+4321),
	}
	dir := putDir(t, c1.engine, files)
	key, err := os.ReadFile(filepath.Join(dir1, "key"))
	if err != nil {
		t.Fatal(err)
	}
	c1.close()
	if err := os.RemoveAll(dir1); err != nil {
		t.Fatal(err)
	}

	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, "key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	c2 := openClient(t, dir2, servers, nil)
	rep, err := c2.engine.RecoverLinks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Chunkinfo and data chunks, each at redundancy 3: the empty file 1+0,
	// the small one 1+1, the big one 1+4, the directory 1+1.
	wantChunks := 1 + 2 + 5 + 2
	if rep.Answered != 4 || rep.Rejected != 0 || rep.Chunks != wantChunks || rep.Links != 3*wantChunks {
		t.Fatalf("recover report %+v, want %d chunks and %d links from 4 providers", rep, wantChunks, 3*wantChunks)
	}
	readTree(t, c2.engine, dir, files)
	waitUploaded(t, c2.engine, dir, 10*time.Second) // its 3 links came back
	again, err := c2.engine.RecoverLinks(ctx)
	if err != nil || again.Links != 0 {
		t.Fatalf("a second recovery recorded %d links again (%v)", again.Links, err)
	}

	stranger := openClient(t, t.TempDir(), servers, nil)
	rep, err = stranger.engine.RecoverLinks(ctx)
	if err != nil || rep.Links != 0 || rep.Rejected != 0 {
		t.Fatalf("another key recovered %+v (%v)", rep, err)
	}
}

// A directory shared with a secret is readable by another client with
// another key, through the link keys in the share's tags; without the
// secret nothing is found.
func TestShareAndReadElsewhere(t *testing.T) {
	servers := startProviders(t, healthy(4)...)
	ctx := context.Background()
	owner := openClient(t, t.TempDir(), servers, nil)
	files := map[string][]byte{"a": randomBytes(t, 300<<10), "b": randomBytes(t, 10)}
	dir := putDir(t, owner.engine, files)
	secret, tagged, err := owner.engine.Share(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if tagged != 3*(4+2+1) {
		t.Fatalf("%d replicas tagged, want %d", tagged, 3*(4+2+1))
	}

	reader := openClient(t, t.TempDir(), servers, func(c *upload.Config) { c.ReadOnly = true })
	rep, err := reader.engine.RecoverShare(ctx, secret)
	if err != nil || rep.Links != tagged || rep.Rejected != 0 {
		t.Fatalf("share recovered %+v (%v), want %d links", rep, err, tagged)
	}
	readTree(t, reader.engine, dir, files)
	if _, err := reader.engine.PutFile(ctx, bytes.NewReader([]byte("x")), upload.PutOptions{}); err == nil {
		t.Fatal("a read-only engine accepted a put")
	}

	// A shared link's key comes from the sharer's tag, not from our
	// master: what it opens is checked against the chunk id, so a wrong
	// key is an error, never wrong bytes.
	forged := openClient(t, t.TempDir(), servers, func(c *upload.Config) { c.ReadOnly = true })
	if _, err := forged.engine.RecoverShare(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if err := forged.engine.Adopt(ctx, dir, nil); err != nil {
		t.Fatal(err)
	}
	entries, err := chunkinfo.DecodeDir(readAll(t, forged.engine, dir))
	if err != nil {
		t.Fatal(err)
	}
	var small meta.ID
	for _, ent := range entries {
		if ent.Name == "b" {
			small = ent.ID
		}
	}
	if err := forged.engine.Adopt(ctx, small, nil); err != nil {
		t.Fatal(err)
	}
	err = forged.db.Update(ctx, func(tx meta.Tx) error {
		links, err := tx.Links(merkle.Keccak256(files["b"]))
		if err != nil || len(links) == 0 {
			return fmt.Errorf("links of b's chunk: %d, %v", len(links), err)
		}
		for _, l := range links {
			l.Key[0] ^= 1
			if err := tx.PutLink(l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := forged.engine.Get(ctx, small, io.Discard); !errors.Is(err, meta.ErrCorrupt) {
		t.Fatalf("read through a wrong link key: %v, want ErrCorrupt", err)
	}

	other := openClient(t, t.TempDir(), servers, func(c *upload.Config) { c.ReadOnly = true })
	var wrong [32]byte
	wrong[0] = 1
	rep, err = other.engine.RecoverShare(ctx, wrong)
	if err != nil || rep.Links != 0 {
		t.Fatalf("a wrong secret recovered %+v (%v)", rep, err)
	}
	if err := other.engine.Adopt(ctx, dir, nil); err == nil {
		t.Fatal("a tree was readable without its share")
	}
}
