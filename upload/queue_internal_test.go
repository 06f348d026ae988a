package upload

import (
	"slices"
	"testing"

	"github.com/pointfs/pointfs/meta"
)

// TestIDQueueOrder checks the queue against a slice doing the same, through
// growth and wrap-around: puts at both ends, takes from the front.
func TestIDQueueOrder(t *testing.T) {
	var q idQueue
	var want []meta.ID
	id := func(i int) meta.ID { return meta.ID{byte(i), byte(i >> 8)} }
	take := func() {
		got, ok := q.popFront()
		if len(want) == 0 {
			if ok {
				t.Fatalf("popFront of an empty queue gave %x", got[:2])
			}
			return
		}
		if !ok || got != want[0] {
			t.Fatalf("popFront = %x %v, want %x", got[:2], ok, want[0][:2])
		}
		want = want[1:]
	}
	for i := range 5000 {
		switch {
		case i%7 == 3:
			q.pushFront(id(i))
			want = slices.Insert(want, 0, id(i))
		case i%3 == 0:
			take()
		default:
			q.pushBack(id(i))
			want = append(want, id(i))
		}
		if q.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", i, q.len(), len(want))
		}
	}
	for len(want) > 0 {
		take()
	}
	take()
	if q.buf != nil {
		t.Errorf("a drained backlog keeps a ring of %d", len(q.buf))
	}
}
