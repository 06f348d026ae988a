package upload

import "github.com/pointfs/pointfs/meta"

// idQueue is the engine's queue of chunks to visit: first in, first out,
// and a chunk that found every provider busy goes back at the head. It is a
// ring, so that putting one back costs the same with 10 chunks queued as
// with the 23,000 of a source tree being copied (a slice rebuilt for each
// put-back copied all of them: 48 MB of garbage for 1,000 small files).
type idQueue struct {
	buf  []meta.ID
	head int // index of the first
	n    int
}

func (q *idQueue) len() int { return q.n }

func (q *idQueue) pushBack(id meta.ID) {
	q.grow()
	q.buf[(q.head+q.n)%len(q.buf)] = id
	q.n++
}

func (q *idQueue) pushFront(id meta.ID) {
	q.grow()
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = id
	q.n++
}

func (q *idQueue) popFront() (meta.ID, bool) {
	if q.n == 0 {
		return meta.ID{}, false
	}
	id := q.buf[q.head]
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	if q.n == 0 && len(q.buf) > 1024 {
		q.clear() // a backlog's ring is not kept once it is gone
	}
	return id, true
}

func (q *idQueue) clear() { *q = idQueue{} }

// grow makes room for one more.
func (q *idQueue) grow() {
	if q.n < len(q.buf) {
		return
	}
	buf := make([]meta.ID, max(16, 2*len(q.buf)))
	k := copy(buf, q.buf[q.head:])
	copy(buf[k:], q.buf[:q.head])
	q.buf, q.head = buf, 0
}
