package upload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
)

// Tick is one pass of the engine (the seed's chunkUploadingTick): for every
// chunk in the in-flight index it resumes links no worker drives, and opens
// new links to other providers until the chunk's live links reach its
// redundancy. It reads only the in-flight index, so its cost grows with
// active work, not with everything stored.
func (e *Engine) Tick(ctx context.Context) error {
	var ids []meta.ID
	err := e.store.View(ctx, func(tx meta.Tx) error {
		return tx.Uploading(func(id meta.ID) error { ids = append(ids, id); return nil })
	})
	if err != nil {
		return fmt.Errorf("read in-flight index: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	e.ensureProviders(ctx)
	for _, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := e.tickChunk(ctx, id); err != nil {
			e.log.Warn("tick chunk", "chunk", id, "err", err)
		}
	}
	return nil
}

func (e *Engine) tickChunk(ctx context.Context, id meta.ID) error {
	var (
		c     *meta.Chunk
		links []*meta.Link
	)
	err := e.store.View(ctx, func(tx meta.Tx) (err error) {
		if c, err = tx.Chunk(id); err != nil {
			return err
		}
		links, err = tx.Links(id)
		return err
	})
	if err != nil {
		return err
	}
	if c.State != meta.ChunkUploading {
		return nil
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
		return e.reconsider(ctx, id)
	}
	for need := c.Redundancy - live; need > 0; need-- {
		l, p, err := e.newLink(ctx, c, holders, failed)
		if errors.Is(err, errNoSlot) || errors.Is(err, meta.ErrNoProviders) {
			return nil // nobody free now; a later tick tries again
		}
		if err != nil {
			return err
		}
		holders[p] = true
		e.startLink(l, p)
	}
	return nil
}

var errNoSlot = errors.New("every provider is busy")

// newLink picks a provider for chunk c and persists a new link in state
// created.
func (e *Engine) newLink(ctx context.Context, c *meta.Chunk, holders, failed map[peer.ID]bool) (*meta.Link, peer.ID, error) {
	sealedLen := int64(c.Size)
	off, err := e.choose(c.Expires, sealedLen, holders, failed)
	if err != nil {
		return nil, "", err
	}
	now := e.cfg.Now()
	l := &meta.Link{
		ID:          meta.NewLinkID(),
		Chunk:       c.ID,
		Provider:    off.Peer.String(),
		Address:     off.Address,
		State:       meta.LinkCreated,
		SegmentSize: e.cfg.SegmentSize,
		SegmentHash: e.cfg.SegmentHash,
		SealedLen:   sealedLen,
		Expires:     c.Expires,
		Price:       linkPrice(off.PricePerByteDay, sealedLen, c.Expires.Sub(now)).String(),
		Created:     now,
		Updated:     now,
	}
	if err := e.store.Update(ctx, func(tx meta.Tx) error { return tx.PutLink(l) }); err != nil {
		return nil, "", err
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
		final := e.drive(e.ctx, l, p)
		e.mu.Lock()
		delete(e.running, l.ID)
		e.active[p]--
		e.mu.Unlock()
		if final {
			if err := e.reconsider(e.ctx, l.Chunk); err != nil && e.ctx.Err() == nil {
				e.log.Warn("reconsider", "chunk", l.Chunk, "err", err)
			}
		}
		e.Kick()
	}()
}

// reconsider is the seed's reconsiderUploadingStatus: a chunk is uploaded
// when it has at least redundancy signed, unexpired links; the files using
// it follow.
func (e *Engine) reconsider(ctx context.Context, id meta.ID) error {
	changed := false
	err := e.store.Update(ctx, func(tx meta.Tx) error {
		changed = false
		c, err := tx.Chunk(id)
		if err != nil {
			return err
		}
		links, err := tx.Links(id)
		if err != nil {
			return err
		}
		now := e.cfg.Now()
		durable := 0
		for _, l := range links {
			if l.Durable(now) {
				durable++
			}
		}
		want := meta.ChunkUploading
		if durable >= c.Redundancy {
			want = meta.ChunkUploaded
		}
		if want == c.State {
			return nil
		}
		wasUploaded := c.State == meta.ChunkUploaded
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
	return err
}

func fileState(pending int) meta.FileState {
	if pending <= 0 {
		return meta.FileUploaded
	}
	return meta.FileUploading
}

// linkDeadline bounds how long one worker may keep a link in one pass.
const linkDeadline = 5 * time.Minute
