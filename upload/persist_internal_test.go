package upload

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/badgerdb"
)

// Links persisted at once by many writers, several per chunk (their
// writes touch the same link lists and conflict), are all committed with
// the state each writer gave; a write that cannot commit fails alone.
func TestLinkWritesGroupCommit(t *testing.T) {
	db, err := badgerdb.Open(filepath.Join(t.TempDir(), "meta"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var w linkWrites
	chunks := make([]meta.ID, 8)
	for i := range chunks {
		chunks[i][0] = byte(i + 1)
	}
	const n = 200
	links := make([]*meta.Link, n)
	for i := range links {
		links[i] = &meta.Link{ID: meta.NewLinkID(), Chunk: chunks[i%len(chunks)], State: meta.LinkCreated}
	}
	// One write the store refuses (a link without an id): it must fail,
	// and only it.
	bad := &meta.Link{Chunk: chunks[0], State: meta.LinkAgreed}
	states := []meta.LinkState{meta.LinkAgreed, meta.LinkEncrypting, meta.LinkEncrypted, meta.LinkSendingSegmentMap}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range states {
				l.State = s
				if err := w.put(ctx, db, l, nil); err != nil {
					errs <- fmt.Errorf("link %s to %s: %w", l.ID, s, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.put(ctx, db, bad, nil); err == nil {
			errs <- fmt.Errorf("a link without an id was committed")
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	err = db.View(ctx, func(tx meta.Tx) error {
		for _, c := range chunks {
			ls, err := tx.Links(c)
			if err != nil {
				return err
			}
			if len(ls) != n/len(chunks) {
				t.Errorf("chunk %s: %d links, want %d", c, len(ls), n/len(chunks))
			}
			for _, l := range ls {
				if l.State != meta.LinkSendingSegmentMap {
					t.Errorf("link %s in state %s, want %s", l.ID, l.State, meta.LinkSendingSegmentMap)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy || len(w.queue) != 0 {
		t.Errorf("after the writers: busy %v, %d queued", w.busy, len(w.queue))
	}
}

// Writes queued behind a commit go in one transaction; when one of them
// cannot be written, the others are still committed, each on its own.
func TestLinkWritesBatchWithOneBadLink(t *testing.T) {
	db, err := badgerdb.Open(filepath.Join(t.TempDir(), "meta"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var w linkWrites
	w.busy = true // as if a commit were under way: the writers below queue
	chunk := meta.ID{1}
	good := make([]*meta.Link, 5)
	for i := range good {
		good[i] = &meta.Link{ID: meta.NewLinkID(), Chunk: chunk, State: meta.LinkAgreed}
	}
	bad := &meta.Link{Chunk: chunk, State: meta.LinkAgreed} // no id: refused
	all := append([]*meta.Link{bad}, good...)
	errs := make([]chan error, len(all))
	for i, l := range all {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- w.put(ctx, db, l, nil) }()
	}
	for {
		w.mu.Lock()
		n := len(w.queue)
		w.mu.Unlock()
		if n == len(all) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	w.drain(ctx, db) // what the commit under way would do next
	if err := <-errs[0]; err == nil {
		t.Error("the link without an id was committed")
	}
	for i := range good {
		if err := <-errs[i+1]; err != nil {
			t.Errorf("link %d: %v", i, err)
		}
	}
	err = db.View(ctx, func(tx meta.Tx) error {
		ls, err := tx.Links(chunk)
		if len(ls) != len(good) {
			t.Errorf("%d links committed, want %d", len(ls), len(good))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
