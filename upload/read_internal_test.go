package upload

import (
	"errors"
	"sync"
	"testing"

	"github.com/pointfs/pointfs/meta"
)

// Reads of a sequential reader come out of order (the kernel sends a FUSE
// file's reads 128 KiB at a time, several at once): they still count as
// sequential, read-ahead starts from the furthest end, and a seek resets it.
func TestSequentialToleratesReordering(t *testing.T) {
	r := newReadCache(4)
	id := meta.ID{1}
	const k, w = 128 << 10, 4 << 20
	steps := []struct {
		start, end, want int64
	}{
		{0, k, k},             // a read from the start
		{2 * k, 3 * k, 3 * k}, // ahead of the one before it
		{k, 2 * k, 3 * k},     // the one it overtook
		{3 * k, 4 * k, 4 * k},
		{100 << 20, 100<<20 + k, -1},                // a seek
		{100<<20 + k, 100<<20 + 2*k, 100<<20 + 2*k}, // sequential again from there
		{0, k, -1},                                  // a seek back
	}
	for i, s := range steps {
		if got := r.sequential(id, s.start, s.end, w); got != s.want {
			t.Errorf("step %d: read [%d, %d): sequential = %d, want %d", i, s.start, s.end, got, s.want)
		}
	}
	if got := r.sequential(meta.ID{2}, k, 2*k, w); got != -1 {
		t.Errorf("first read of another file, not at 0: %d, want -1", got)
	}
}

// Concurrent fetches of one chunk share one flight; its outcome reaches
// every waiter, each holding the chunk once.
func TestFlightsAreShared(t *testing.T) {
	r := newReadCache(4)
	id := meta.ID{1}
	f, leader := r.join(id)
	if !leader {
		t.Fatal("first join is not the leader")
	}
	if r.wanted(id) {
		t.Error("a chunk being fetched is wanted again")
	}
	var wg, joined sync.WaitGroup
	for range 8 {
		wg.Add(1)
		joined.Add(1)
		go func() {
			defer wg.Done()
			g, leader := r.join(id)
			joined.Done()
			if leader || g != f {
				t.Error("a second fetch of the same chunk started")
				return
			}
			<-g.done
			if g.err != nil || string(g.c.data()) != "data" {
				t.Errorf("waiter got %v", g.err)
				return
			}
			g.c.release()
		}()
	}
	joined.Wait()
	c := newChunkRef(bufferOf("data"))
	r.land(id, f, c, nil)
	wg.Wait()
	if n := c.refs.Load(); n != 1 {
		t.Errorf("after every waiter released it, the chunk is held %d times, want 1 (the leader's)", n)
	}
	c.release()
	if !r.wanted(id) {
		t.Error("after the fetch landed (not put in the LRU), the chunk is not wanted")
	}
	g, leader := r.join(id)
	if !leader {
		t.Fatal("a new fetch after the first landed does not lead")
	}
	r.land(id, g, nil, errors.New("gone"))
	<-g.done
	if g.err == nil {
		t.Error("the failure did not reach the flight")
	}
}

func bufferOf(s string) *buffer {
	b := getBuffer(len(s))
	copy(b.b, s)
	return b
}

// A waiter that gives up before the fetch lands is not counted; one that
// gives up after it releases what land held for it.
func TestFlightWaiterLeaves(t *testing.T) {
	for _, after := range []bool{false, true} {
		r := newReadCache(4)
		id := meta.ID{2}
		f, _ := r.join(id)
		g, leader := r.join(id)
		if leader {
			t.Fatal("second join leads")
		}
		c := newChunkRef(bufferOf("x"))
		if after {
			r.land(id, f, c, nil)
			r.leave(g)
		} else {
			r.leave(g)
			r.land(id, f, c, nil)
		}
		if n := c.refs.Load(); n != 1 {
			t.Errorf("left after landing %v: held %d times, want 1", after, n)
		}
	}
}

// The read cache holds what it keeps once, and lets it go when it evicts
// it; a reader's hold outlives the eviction, so the buffer is reused only
// after the last release.
func TestReadCacheHoldsAndReleases(t *testing.T) {
	r := newReadCache(2)
	a := r.putChunk(meta.ID{1}, newChunkRef(bufferOf("a")))
	if n := a.refs.Load(); n != 2 {
		t.Fatalf("kept chunk held %d times, want 2 (caller and cache)", n)
	}
	got := r.chunk(meta.ID{1})
	if got != a || a.refs.Load() != 3 {
		t.Fatalf("chunk from memory: %p held %d times, want %p held 3", got, a.refs.Load(), a)
	}
	got.release()
	a.release() // the caller of putChunk is done
	// The same chunk put again: the kept one comes back, the new one goes.
	dup := newChunkRef(bufferOf("a"))
	if again := r.putChunk(meta.ID{1}, dup); again != a {
		t.Error("a chunk put twice is kept twice")
	} else {
		again.release()
	}
	if dup.refs.Load() != 0 || dup.buf != nil {
		t.Error("the duplicate was not released")
	}
	reader := r.chunk(meta.ID{1})
	r.putChunk(meta.ID{2}, newChunkRef(bufferOf("b"))).release()
	r.putChunk(meta.ID{3}, newChunkRef(bufferOf("c"))).release() // evicts 1
	if r.chunk(meta.ID{1}) != nil {
		t.Fatal("chunk 1 was not evicted")
	}
	if n := reader.refs.Load(); n != 1 || string(reader.data()) != "a" {
		t.Fatalf("evicted while read: held %d times, %q", n, reader.data())
	}
	reader.release()
	if reader.buf != nil {
		t.Error("the last release did not give the buffer back")
	}
	defer func() {
		if recover() == nil {
			t.Error("a second release of the last reference did not panic")
		}
	}()
	reader.release()
}
