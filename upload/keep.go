package upload

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/provider"
)

// Keeping data alive (DESIGN §8): audits challenge signed links on a
// schedule kept in the store's due-time index, so a round reads only the
// links that are due; renewals extend pledges of files that autorenew
// before they lapse; the others lapse and say so; surplus links are
// released.

// nextAudit is when a link audited (or signed) at now is next challenged:
// one interval later, spread by ±25% so audits do not come in waves.
func (e *Engine) nextAudit(now time.Time) time.Time {
	iv := e.cfg.AuditInterval
	jitter := time.Duration(mrand.Int64N(int64(iv)/2+1)) - iv/4
	return now.Add(iv + jitter)
}

// firstAudit spreads the first challenge of a new link over one interval.
func (e *Engine) firstAudit(now time.Time) time.Time {
	return now.Add(time.Duration(mrand.Int64N(int64(e.cfg.AuditInterval)) + 1))
}

type dueLink struct {
	chunk meta.ID
	link  meta.LinkID
}

// AuditRound challenges the links whose audit is due (at most AuditBatch
// of them) and returns how many it audited and how many failed. A wrong,
// late or missing answer fails the link; its chunk goes back to uploading
// and the tick repairs it with a link to another provider.
func (e *Engine) AuditRound(ctx context.Context) (audited, failed int, err error) {
	var due []dueLink
	err = e.store.View(ctx, func(tx meta.Tx) error {
		return tx.AuditsDue(e.cfg.Now(), e.cfg.AuditBatch, func(c meta.ID, l meta.LinkID) error {
			due = append(due, dueLink{c, l})
			return nil
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read audit index: %w", err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, d := range due {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			did, ok, err := e.audit(ctx, d)
			if err != nil && ctx.Err() == nil {
				e.log.Warn("audit", "chunk", d.chunk, "link", d.link, "err", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if did {
				audited++
				if !ok {
					failed++
				}
			}
		}()
	}
	wg.Wait()
	return audited, failed, ctx.Err()
}

// audit challenges one link; did is false for a stale index entry.
func (e *Engine) audit(ctx context.Context, d dueLink) (did, ok bool, err error) {
	var l *meta.Link
	err = e.store.View(ctx, func(tx meta.Tx) (err error) {
		l, err = tx.Link(d.chunk, d.link)
		return err
	})
	if err != nil {
		return false, false, err
	}
	now := e.cfg.Now()
	if l.State != meta.LinkSigned || l.NextAudit.After(now) || len(l.Segments) == 0 {
		return false, false, nil
	}
	p, err := peer.Decode(l.Provider)
	if err != nil {
		return false, false, err
	}
	idx := mrand.IntN(len(l.Segments))
	cause := e.challenge(ctx, l, p, idx)
	if cause != nil && ctx.Err() != nil {
		return false, false, ctx.Err() // shutting down: not the provider's fault
	}
	l.LastAudit = &meta.Audit{At: now, Segment: idx, OK: cause == nil}
	if cause == nil {
		l.AuditsPassed++
		l.NextAudit = e.nextAudit(now)
		e.providerResult(p, true)
		return true, true, e.persist(ctx, l)
	}
	l.LastAudit.Error = cause.Error()
	e.log.Info("audit failed", "chunk", l.Chunk, "provider", l.Provider, "segment", idx, "err", cause)
	l.NextAudit = time.Time{}
	if err := e.fail(l, fmt.Errorf("audit: %w", cause)); err != nil {
		return true, false, err
	}
	e.providerResult(p, false)
	if err := e.reconsider(ctx, l.Chunk); err != nil {
		return true, false, err
	}
	e.markDirty(l.Chunk) // repair
	return true, false, nil
}

// challenge asks p for segment idx of l and checks the answer against what
// the client holds: the segment hash and its path to the link's root. A
// transport failure is tried once more; a late answer is a failed one.
func (e *Engine) challenge(ctx context.Context, l *meta.Link, p peer.ID, idx int) error {
	h, err := merkle.HasherFor(l.SegmentHash)
	if err != nil {
		return err
	}
	var nonce [32]byte
	_, _ = rand.Read(nonce[:])
	var pr *provider.Proof
	for attempt := 0; attempt < 2; attempt++ {
		actx, cancel := context.WithTimeout(ctx, e.cfg.AuditTimeout)
		pr, err = e.net.Challenge(actx, p, l.Root, idx, nonce)
		cancel()
		if err == nil || errors.Is(err, meta.ErrNotFound) || errors.Is(err, meta.ErrInvalid) {
			break // answered (rightly or wrongly): no second chance
		}
	}
	if err != nil {
		return err
	}
	want := l.Segments[idx]
	if h(pr.Segment) != want {
		return fmt.Errorf("%w: segment %d does not match its hash", meta.ErrCorrupt, idx)
	}
	if !merkle.VerifyWith(h, l.Root, want, idx, len(l.Segments), pr.Path) {
		return fmt.Errorf("%w: segment %d's proof does not lead to the link root", meta.ErrCorrupt, idx)
	}
	return nil
}

// RenewRound looks at signed links whose pledge ends within RenewBefore.
// A chunk that some file wants renewed has its links renewed (RENEW, a new
// pledge verified like the first) for another Expiry; the others lapse
// when their time comes, and the files that own them read `expired`.
func (e *Engine) RenewRound(ctx context.Context) (renewed, lapsed int, err error) {
	now := e.cfg.Now()
	var due []dueLink
	err = e.store.View(ctx, func(tx meta.Tx) error {
		return tx.Expiring(now.Add(e.cfg.RenewBefore), e.cfg.AuditBatch, func(c meta.ID, l meta.LinkID) error {
			due = append(due, dueLink{c, l})
			return nil
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read expiry index: %w", err)
	}
	touched := map[meta.ID]bool{}
	for _, d := range due {
		var (
			l *meta.Link
			c *meta.Chunk
		)
		err := e.store.View(ctx, func(tx meta.Tx) (err error) {
			if l, err = tx.Link(d.chunk, d.link); err != nil {
				return err
			}
			c, err = tx.Chunk(d.chunk)
			return err
		})
		if err != nil || l.State != meta.LinkSigned {
			continue
		}
		if c.Autorenew && c.Refs > 0 {
			if err := e.renew(ctx, l, c); err != nil {
				e.log.Info("renew failed", "chunk", l.Chunk, "provider", l.Provider, "err", err)
				if l.Expires.After(now) {
					continue // try again next round, while the pledge still holds
				}
			} else {
				renewed++
				continue
			}
		}
		if l.Expires.After(now) {
			continue // not yet
		}
		l.NextAudit = time.Time{}
		if err := e.fail(l, errors.New("expired: pledge lapsed without renewal")); err != nil {
			return renewed, lapsed, err
		}
		lapsed++
		touched[l.Chunk] = true
	}
	for c := range touched {
		if err := e.reconsider(ctx, c); err != nil {
			return renewed, lapsed, err
		}
		e.markDirty(c)
	}
	return renewed, lapsed, nil
}

// renew extends l by one Expiry and records the new pledge; the chunk and
// the files that autorenew it now end later too.
func (e *Engine) renew(ctx context.Context, l *meta.Link, c *meta.Chunk) error {
	p, err := peer.Decode(l.Provider)
	if err != nil {
		return err
	}
	until := l.Expires.Add(e.cfg.Expiry).Truncate(timeUnit)
	pl, err := e.net.Renew(ctx, p, l.Root, until.Unix())
	if err != nil {
		return err
	}
	want := *l
	want.Expires = until
	if err := e.checkPledge(&want, pl); err != nil {
		return err
	}
	old := l.Expires
	l.Expires, l.Pledge = time.Unix(pl.Expires, 0).UTC(), pl
	l.Renewals++
	l.Error = ""
	if err := e.persist(ctx, l); err != nil {
		return err
	}
	if err := e.PayRenewal(ctx, l, p, old, l.Expires); err != nil {
		e.log.Info("renewal payment not acknowledged yet", "link", l.ID, "err", err) // retried (pay.go)
	}
	return e.store.Update(ctx, func(tx meta.Tx) error { return extendTerm(tx, l.Chunk, until) })
}

// extendTerm makes chunk id, and the files using it that autorenew, end no
// earlier than until.
func extendTerm(tx meta.Tx, id meta.ID, until time.Time) error {
	c, err := tx.Chunk(id)
	if err != nil {
		return err
	}
	if until.After(c.Expires) {
		c.Expires = until
		if err := tx.PutChunk(c); err != nil {
			return err
		}
	}
	files, err := tx.ChunkFiles(id)
	if err != nil {
		return err
	}
	for _, fid := range files {
		f, err := tx.File(fid)
		if err != nil {
			continue
		}
		if f.Policy.Autorenew && until.After(f.Policy.Expires) {
			f.Policy.Expires = until
			if err := tx.PutFile(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// trim releases signed links beyond the chunk's redundancy (all of them
// for a chunk no file uses), the worst providers first: the link is marked
// released, then the provider is told it may drop the replica. Telling it
// is best effort: an unreached provider keeps it until the pledge lapses.
func (e *Engine) trim(ctx context.Context, id meta.ID) error {
	var (
		c     *meta.Chunk
		links []*meta.Link
	)
	err := e.store.View(ctx, func(tx meta.Tx) (err error) {
		c, links, err = chunkLinks(tx, id)
		return err
	})
	if err != nil {
		return err
	}
	want := c.Redundancy
	if c.Refs == 0 {
		want = 0
	}
	now := e.cfg.Now()
	var durable []*meta.Link
	for _, l := range links {
		if l.Durable(now) {
			durable = append(durable, l)
		}
	}
	if len(durable) <= want {
		return nil
	}
	e.orderByLatency(durable) // best first: release from the end
	sort.SliceStable(durable, func(i, j int) bool {
		return durable[i].AuditsPassed > durable[j].AuditsPassed
	})
	for _, l := range durable[want:] {
		l.NextAudit = time.Time{}
		if err := e.fail(l, errors.New("released: not needed any more")); err != nil {
			return err
		}
		e.wg.Add(1)
		go func(l *meta.Link) {
			defer e.wg.Done()
			p, err := peer.Decode(l.Provider)
			if err != nil {
				return
			}
			rctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
			defer cancel()
			if err := e.net.Release(rctx, p, l.Root); err != nil {
				e.log.Info("release", "provider", l.Provider, "root", l.Root, "err", err)
			}
		}(l)
	}
	return nil
}

// keepLoop runs audit and renewal rounds until the engine stops.
func (e *Engine) keepLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.KeepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, _, err := e.AuditRound(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("audit round", "err", err)
		}
		if _, _, err := e.RenewRound(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("renew round", "err", err)
		}
	}
}
