package upload

import (
	"context"
	"sync"

	"github.com/pointfs/pointfs/meta"
)

// linkWrites commits the state changes of links driven at the same time in
// shared transactions (a group commit). Every state of a link is
// persisted before the link goes on (DESIGN §1), so an upload of 256 MiB
// at redundancy 3 makes some 25,000 such writes; one transaction each
// cost the daemon about a fifth of its CPU (badger's per-transaction work:
// its oracle, its commit queue, the hot set's re-read after the commit,
// and the wake-ups between them). Writers that arrive while a commit is
// under way queue up, and the next commit takes them all.
type linkWrites struct {
	mu    sync.Mutex
	queue []*linkWrite
	busy  bool // a commit is under way, and it or its successor takes the queue
}

type linkWrite struct {
	l    *meta.Link
	also func(meta.Tx) error // more to write with l, or nil
	done chan error
}

// maxLinkBatch bounds the links one transaction writes: a conflict makes
// the whole transaction run again.
const maxLinkBatch = 64

// put persists l (its caller leaves it alone until put returns), and what
// also writes (when not nil) in the same transaction, and returns once
// they are committed.
func (w *linkWrites) put(ctx context.Context, store meta.Store, l *meta.Link, also func(meta.Tx) error) error {
	r := &linkWrite{l: l, also: also, done: make(chan error, 1)}
	w.mu.Lock()
	w.queue = append(w.queue, r)
	if w.busy {
		w.mu.Unlock()
		return <-r.done
	}
	w.busy = true
	w.mu.Unlock()
	w.commit(ctx, store) // takes r, and whatever queued behind it
	if w.more() {
		// Others queued meanwhile: a new leader commits them, so that
		// this link goes on now.
		go w.drain(context.WithoutCancel(ctx), store)
	}
	return <-r.done
}

// more reports whether writes are queued, and when none are, that no
// commit is under way any more.
func (w *linkWrites) more() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		w.busy = false
		return false
	}
	return true
}

func (w *linkWrites) drain(ctx context.Context, store meta.Store) {
	for {
		w.commit(ctx, store)
		if !w.more() {
			return
		}
	}
}

// commit writes up to maxLinkBatch queued links in one transaction. If it
// fails, each is written on its own, so that every writer gets its own
// link's outcome.
func (w *linkWrites) commit(ctx context.Context, store meta.Store) {
	w.mu.Lock()
	n := min(len(w.queue), maxLinkBatch)
	batch := w.queue[:n:n]
	w.queue = w.queue[n:]
	if len(w.queue) == 0 {
		w.queue = nil // let the array go
	}
	w.mu.Unlock()
	err := store.Update(ctx, func(tx meta.Tx) error {
		for _, r := range batch {
			if err := r.write(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			r.done <- store.Update(ctx, r.write)
		}
		return
	}
	for _, r := range batch {
		r.done <- err
	}
}

func (r *linkWrite) write(tx meta.Tx) error {
	if err := tx.PutLink(r.l); err != nil {
		return err
	}
	if r.also != nil {
		return r.also(tx)
	}
	return nil
}
