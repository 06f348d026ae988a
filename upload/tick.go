package upload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
)

// Tick is one full pass of the engine (the seed's chunkUploadingTick): for
// every chunk in the in-flight index it resumes links no worker drives, and
// opens new links to other providers until the chunk's live links reach its
// redundancy. It reads only the in-flight index, so its cost grows with
// active work, not with everything stored. It runs on the timer; between
// timer ticks, state changes run tickDirty, which visits only the chunks
// that changed.
func (e *Engine) Tick(ctx context.Context) error {
	var ids []meta.ID
	err := e.store.View(ctx, func(tx meta.Tx) error {
		return tx.Uploading(func(id meta.ID) error { ids = append(ids, id); return nil })
	})
	if err != nil {
		return fmt.Errorf("read in-flight index: %w", err)
	}
	e.clearDirty() // a full pass covers them
	e.requeue(e.tickChunks(ctx, ids)...)
	return nil
}

// tickDirty visits the chunks marked since the last pass, as many as the
// providers have slots for: the others stay queued where they are. (It
// took the whole queue and put back what it could not serve: with the
// 23,000 chunks of a source tree queued, that was half of the tick's time
// and 5% of the daemon's CPU, at every link's end.)
func (e *Engine) tickDirty(ctx context.Context) {
	if d := e.heldFor(time.Now()); d > 0 {
		time.AfterFunc(d, e.Kick) // and the pass comes back when the hold ends
		return
	}
	e.ensureProviders(ctx)
	e.mu.Lock()
	n := e.dirty.len() // those marked during the pass wait for the next one
	e.mu.Unlock()
	for ; n > 0 && ctx.Err() == nil && e.anySlot(); n-- {
		id, ok := e.popDirty()
		if !ok {
			return
		}
		blocked, err := e.tickChunk(ctx, id)
		if err != nil {
			e.log.Warn("tick chunk", "chunk", id, "err", err)
		}
		if blocked {
			e.requeue(id)
			return
		}
	}
}

// popDirty takes the first chunk of the queue.
func (e *Engine) popDirty() (meta.ID, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.dirty.popFront()
	if ok {
		delete(e.dirtySet, id)
	}
	return id, ok
}

// tickChunks visits ids in order and returns those it could not serve
// because every provider was busy (they wait for a slot to free), or all
// of them while the engine holds off for a writer (HoldOff).
func (e *Engine) tickChunks(ctx context.Context, ids []meta.ID) []meta.ID {
	if len(ids) == 0 {
		return nil
	}
	if d := e.heldFor(time.Now()); d > 0 {
		time.AfterFunc(d, e.Kick) // and the pass comes back when the hold ends
		return ids
	}
	e.ensureProviders(ctx)
	for i, id := range ids {
		if ctx.Err() != nil || !e.anySlot() {
			return ids[i:]
		}
		blocked, err := e.tickChunk(ctx, id)
		if err != nil {
			e.log.Warn("tick chunk", "chunk", id, "err", err)
		}
		if blocked {
			return ids[i:]
		}
	}
	return nil
}

// markDirty queues chunks for the next pass and asks for it.
func (e *Engine) markDirty(ids ...meta.ID) {
	if len(ids) == 0 {
		return
	}
	e.mu.Lock()
	for _, id := range ids {
		if _, ok := e.dirtySet[id]; !ok {
			e.dirtySet[id] = struct{}{}
			e.dirty.pushBack(id)
		}
	}
	e.mu.Unlock()
	e.Kick()
}

// requeue puts chunks that found every provider busy back at the head of
// the queue, without asking for a pass: the next link to finish frees a
// slot and asks for one.
func (e *Engine) requeue(ids ...meta.ID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(ids) - 1; i >= 0; i-- { // the first ends up first
		if _, ok := e.dirtySet[ids[i]]; !ok {
			e.dirtySet[ids[i]] = struct{}{}
			e.dirty.pushFront(ids[i])
		}
	}
}

// anySlot reports whether some known provider could take another link.
func (e *Engine) anySlot() bool {
	e.providers.mu.Lock()
	peers := make([]peer.ID, 0, len(e.providers.offers))
	for p := range e.providers.offers {
		peers = append(peers, p)
	}
	e.providers.mu.Unlock()
	if len(peers) == 0 {
		return true // let tickChunk find out and say so
	}
	window := 2 * e.cfg.InFlightPerProvider
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range peers {
		if e.active[p] < window {
			return true
		}
	}
	return false
}

func (e *Engine) clearDirty() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dirty.clear()
	clear(e.dirtySet)
}

// tickChunk serves one chunk; blocked means it still lacks links and no
// provider had a free slot.
func (e *Engine) tickChunk(ctx context.Context, id meta.ID) (blocked bool, err error) {
	var (
		c     *meta.Chunk
		links []*meta.Link
	)
	err = e.store.View(ctx, func(tx meta.Tx) (err error) {
		c, links, err = chunkLinks(tx, id)
		return err
	})
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if c.State != meta.ChunkUploading {
		return false, nil
	}
	now := e.cfg.Now()
	live, durable := 0, 0
	holders := make(map[peer.ID]bool) // providers that hold or are getting a copy
	failed := make(map[peer.ID]bool)  // providers that failed this chunk before
	for _, l := range links {
		p, err := peer.Decode(l.Provider)
		if err != nil {
			continue
		}
		if !l.Live(now) {
			failed[p] = true
			continue
		}
		live++
		holders[p] = true
		if l.Durable(now) {
			durable++
		}
		if !l.State.Terminal() {
			e.startLink(l, p)
		}
	}
	if durable >= c.Redundancy {
		// Every link it needs is signed (for instance links signed just
		// before a restart): settle the chunk's state.
		return false, e.reconsider(ctx, id)
	}
	if durable == 0 && live < c.Redundancy && !e.cache.Has(id) {
		// No replica to copy from and no plaintext here (lost before a
		// recovery): nothing can restore it; its files say uploading and
		// their reads fail.
		return false, nil
	}
	for need := c.Redundancy - live; need > 0; need-- {
		l, p, err := e.newLink(ctx, c, holders, failed)
		if errors.Is(err, errNoSlot) {
			return true, nil // wait for a slot
		}
		if errors.Is(err, meta.ErrNoProviders) {
			return false, nil // the timer's pass tries again
		}
		if err != nil {
			return false, err
		}
		holders[p] = true
		e.startLink(l, p)
	}
	return false, nil
}

var errNoSlot = errors.New("every provider is busy")

// newLink picks a provider for chunk c and persists a new link in state
// created.
func (e *Engine) newLink(ctx context.Context, c *meta.Chunk, holders, failed map[peer.ID]bool) (*meta.Link, peer.ID, error) {
	sealedLen := int64(c.Size)
	now := e.cfg.Now()
	expires := c.Expires
	if c.Autorenew && !expires.After(now) {
		// The chunk's term ended before it was stored (the engine was
		// down for all of it): every store request would be declined. A
		// renewal would have extended it, so the new link runs a term
		// from now, and the chunk and the files that autorenew it with
		// it (below).
		expires = now.Add(e.cfg.Expiry).Truncate(timeUnit)
	}
	off, err := e.choose(expires, sealedLen, holders, failed)
	if err != nil {
		return nil, "", err
	}
	l := &meta.Link{
		ID:          meta.NewLinkID(),
		Chunk:       c.ID,
		Provider:    off.Peer.String(),
		Address:     off.Address,
		State:       meta.LinkCreated,
		SegmentSize: e.cfg.SegmentSize,
		SegmentHash: e.cfg.SegmentHash,
		SealedLen:   sealedLen,
		Expires:     expires,
		Price:       linkPrice(off.PricePerByteDay, sealedLen, expires.Sub(now)).String(),
		Rate:        rateOf(off),
		Created:     now,
		Updated:     now,
	}
	err = e.store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutLink(l); err != nil {
			return err
		}
		if expires.After(c.Expires) {
			return extendTerm(tx, c.ID, expires)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if expires.After(c.Expires) {
		c.Expires = expires // for the caller's next link
	}
	return l, off.Peer, nil
}

// startLink runs a worker for l unless one already does.
func (e *Engine) startLink(l *meta.Link, p peer.ID) {
	e.mu.Lock()
	if _, ok := e.running[l.ID]; ok || e.ctx.Err() != nil {
		e.mu.Unlock()
		return
	}
	e.running[l.ID] = p
	e.active[p]++
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		// l may have been read before a worker that just finished
		// persisted its last state (the tick's read raced with it): drive
		// the link as stored, never a stale copy, which would write an
		// earlier state over a signed link.
		final := false
		var cur *meta.Link
		err := e.store.View(e.ctx, func(tx meta.Tx) (err error) { cur, err = tx.Link(l.Chunk, l.ID); return err })
		switch {
		case errors.Is(err, meta.ErrNotFound): // released meanwhile
		case err != nil:
			if e.ctx.Err() == nil {
				e.log.Warn("read link to drive", "link", l.ID, "err", err)
			}
		case !cur.State.Terminal():
			l = cur
			final = e.drive(e.ctx, l, p)
		}
		e.mu.Lock()
		delete(e.running, l.ID)
		e.active[p]--
		e.mu.Unlock()
		if final && l.State == meta.LinkSigned {
			if err := e.reconsider(e.ctx, l.Chunk); err != nil && e.ctx.Err() == nil {
				e.log.Warn("reconsider", "chunk", l.Chunk, "err", err)
			}
			e.tagForShares(e.ctx, l, p)
		}
		// The chunk may need a replacement link, and a slot is free.
		e.markDirty(l.Chunk)
	}()
}

// chunkLinks reads a chunk and all of its links in tx.
func chunkLinks(tx meta.Tx, id meta.ID) (*meta.Chunk, []*meta.Link, error) {
	c, err := tx.Chunk(id)
	if err != nil {
		return nil, nil, err
	}
	links, err := tx.Links(id)
	if err != nil {
		return nil, nil, err
	}
	return c, links, nil
}

// reconsider is the seed's reconsiderUploadingStatus: a chunk is uploaded
// when it has at least redundancy signed, unexpired links; the files using
// it follow.
func (e *Engine) reconsider(ctx context.Context, id meta.ID) error {
	// Most calls change nothing (a chunk's links before the last one it
	// needs is signed): decide in a read-only transaction first, which
	// reads the records of chunks in flight from memory. Every caller
	// persisted its change before calling, so the last one to look sees
	// every change made before it.
	var keep bool
	err := e.store.View(ctx, func(tx meta.Tx) error {
		c, links, err := chunkLinks(tx, id)
		if err != nil {
			return err
		}
		want, ok := e.chunkState(c, links)
		keep = !ok || want == c.State
		return nil
	})
	if err == nil && keep {
		return nil
	}
	changed, uploaded := false, false
	err = e.store.Update(ctx, func(tx meta.Tx) error {
		changed, uploaded = false, false
		c, links, err := chunkLinks(tx, id)
		if err != nil {
			return err
		}
		want, ok := e.chunkState(c, links)
		if !ok || want == c.State {
			return nil
		}
		wasUploaded := c.State == meta.ChunkUploaded
		uploaded = want == meta.ChunkUploaded
		c.State = want
		if err := tx.PutChunk(c); err != nil {
			return err
		}
		files, err := tx.ChunkFiles(id)
		if err != nil {
			return err
		}
		for _, fid := range files {
			f, err := tx.File(fid)
			if errors.Is(err, meta.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			switch {
			case want == meta.ChunkUploaded:
				f.Pending--
			case wasUploaded:
				f.Pending++
			}
			f.State = fileState(f.Pending)
			if want == meta.ChunkExpired {
				f.State = meta.FileExpired
			}
			if err := tx.PutFile(f); err != nil {
				return err
			}
			changed = true
		}
		return nil
	})
	if changed {
		e.notifyChanged()
	}
	if err == nil && uploaded {
		e.kickTrim()
	}
	return err
}

// chunkState is the state c should be in with links (ok false: a released
// chunk, left as it is).
func (e *Engine) chunkState(c *meta.Chunk, links []*meta.Link) (meta.ChunkState, bool) {
	now := e.cfg.Now()
	durable := 0
	for _, l := range links {
		if l.Durable(now) {
			durable++
		}
	}
	switch {
	case c.Refs == 0 && c.State == meta.ChunkCreated:
		return 0, false // released: no file wants it any more
	case durable >= c.Redundancy:
		return meta.ChunkUploaded, true
	case !c.Autorenew && !c.Expires.After(now):
		return meta.ChunkExpired, true // its policy ended: nothing to repair
	default:
		return meta.ChunkUploading, true
	}
}

func fileState(pending int) meta.FileState {
	if pending <= 0 {
		return meta.FileUploaded
	}
	return meta.FileUploading
}

// linkDeadline bounds how long one worker may keep a link in one pass.
const linkDeadline = 5 * time.Minute
