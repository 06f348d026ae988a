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
// every waiter.
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
			if string(g.data) != "data" || g.err != nil {
				t.Errorf("waiter got %q, %v", g.data, g.err)
			}
		}()
	}
	joined.Wait()
	r.land(id, f, []byte("data"), nil)
	wg.Wait()
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
