package upload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/provider"
	"github.com/pointfs/pointfs/upload/seal"
)

// drive moves l from its persisted state to signed or failed, persisting
// every step, and reports whether l reached one of those two. It returns
// early, leaving l where it was, only when the engine shuts down.
func (e *Engine) drive(ctx context.Context, l *meta.Link, p peer.ID) bool {
	slot := e.slot(p)
	select {
	case slot <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-slot }()
	ctx, cancel := context.WithTimeout(ctx, linkDeadline)
	defer cancel()

	var sealed *buffer
	defer func() {
		if sealed != nil {
			sealed.release()
		}
	}()
	for !l.State.Terminal() {
		err := e.step(ctx, l, p, &sealed)
		if err == nil {
			continue
		}
		if e.ctx.Err() != nil {
			return false // shutting down: resume from the persisted state later
		}
		if errors.Is(err, errPaymentBlocked) {
			// Waiting for money, not the provider's fault: keep the state,
			// say why, and try again later (pay.go).
			l.Error = err.Error()
			if perr := e.persist(ctx, l); perr != nil {
				e.log.Warn("persist link", "link", l.ID, "err", perr)
			}
			e.log.Warn("link waits for payment", "link", l.ID, "provider", l.Provider, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(e.pay.retry):
			}
			return false
		}
		e.log.Info("link failed", "chunk", l.Chunk, "link", l.ID, "provider", l.Provider, "state", l.State, "err", err)
		if ferr := e.fail(l, err); ferr != nil {
			e.log.Warn("persist failed link", "link", l.ID, "err", ferr)
			return false
		}
		e.providerResult(p, false)
		return true
	}
	e.providerResult(p, l.State == meta.LinkSigned)
	return true
}

// step performs the work of l's current state and persists the next one.
func (e *Engine) step(ctx context.Context, l *meta.Link, p peer.ID, sealed **buffer) error {
	switch l.State {
	case meta.LinkCreated:
		err := e.net.Store(ctx, p, provider.StoreRequest{
			Link: l.ID, SealedLen: l.SealedLen, Expires: l.Expires.Unix(), Price: offeredRate(l),
		})
		if err != nil {
			return fmt.Errorf("store request: %w", err)
		}
		return e.advance(ctx, l, meta.LinkAgreed)

	case meta.LinkAgreed:
		// checkExistingChannel (pay.go): without a channel that covers the
		// link's price, establish one first.
		if e.needsChannel(ctx, l) {
			return e.advance(ctx, l, meta.LinkEstablishPaymentChannel)
		}
		return e.advance(ctx, l, meta.LinkEncrypting)

	case meta.LinkEstablishPaymentChannel:
		if e.pay != nil && linkCost(l).Sign() > 0 {
			if err := e.establishChannel(ctx, l); err != nil {
				return err
			}
		}
		l.Error = ""
		return e.advance(ctx, l, meta.LinkEncrypting)

	case meta.LinkEncrypting:
		b, err := e.sealLink(ctx, l)
		if err != nil {
			return err
		}
		*sealed = b
		l.Root = merkle.RootWith(e.hasher(l), l.Segments)
		return e.advance(ctx, l, meta.LinkEncrypted)

	case meta.LinkEncrypted:
		return e.advance(ctx, l, meta.LinkSendingSegmentMap)

	case meta.LinkSendingSegmentMap:
		if *sealed != nil && len(l.Progress) == 0 && l.Rewinds == 0 {
			// The replica is at hand and nothing of it went out yet.
			return e.sendReplica(ctx, l, p, (*sealed).b)
		}
		err := e.net.SendSegmentMap(ctx, p, e.segmentMap(l))
		if errors.Is(err, meta.ErrAlreadyStored) {
			// The provider holds this replica already (we were cut off after
			// sending it): ask for the pledge, send nothing again.
			return e.advance(ctx, l, meta.LinkAskingForSignature)
		}
		if err != nil {
			return fmt.Errorf("segment map: %w", err)
		}
		return e.advance(ctx, l, meta.LinkSendingData)

	case meta.LinkSendingData:
		if *sealed == nil {
			// Resumed after a restart: sealing is deterministic, so seal
			// again and check that the same replica comes out.
			old := l.Segments
			b, err := e.sealLink(ctx, l)
			if err != nil {
				return err
			}
			*sealed = b
			if merkle.RootWith(e.hasher(l), l.Segments) != l.Root || len(old) != len(l.Segments) {
				return fmt.Errorf("%w: resealed replica differs from its segment map", meta.ErrCorrupt)
			}
		}
		err := e.sendData(ctx, l, p, (*sealed).b)
		if errors.Is(err, meta.ErrNotFound) && e.rewind(l) {
			// The provider has no map for this root (it lost it): send the
			// map again, then what it has not acknowledged.
			return e.advance(ctx, l, meta.LinkSendingSegmentMap)
		}
		if err != nil {
			return err
		}
		return e.advance(ctx, l, meta.LinkDataReceived)

	case meta.LinkDataReceived:
		return e.advance(ctx, l, meta.LinkAskingForSignature)

	case meta.LinkAskingForSignature:
		pl, err := e.net.RequestPledge(ctx, p, l.Root)
		if errors.Is(err, provider.ErrIncomplete) && e.rewind(l) {
			// Acknowledged segments did not survive at the provider (a
			// power cut before its sync): send them all again.
			for i := range l.Progress {
				l.Progress[i].Acked = false
			}
			return e.advance(ctx, l, meta.LinkSendingSegmentMap)
		}
		if err != nil {
			return fmt.Errorf("signature request: %w", err)
		}
		return e.signed(ctx, l, p, pl)
	}
	return fmt.Errorf("%w: link in state %s", meta.ErrInvalid, l.State)
}

// signed takes pl, the pledge l's provider gave, and persists l as signed
// if it holds.
func (e *Engine) signed(ctx context.Context, l *meta.Link, p peer.ID, pl *meta.Pledge) error {
	if err := e.checkPledge(l, pl); err != nil {
		return err
	}
	l.Pledge = pl
	l.NextAudit = e.firstAudit(e.cfg.Now())
	// Signed, with what it owes in the same write (pay.go): a crash
	// cannot keep the pledge and forget the debt. The voucher goes out
	// after, from the provider's payment worker.
	l.State = meta.LinkSigned
	if err := e.persistWith(ctx, l, e.oweFor(l)); err != nil {
		return err
	}
	e.queuePayment(l, p)
	return nil
}

// segmentMap is what STORE_CHUNK_SEGMENTS says of l's replica.
func (e *Engine) segmentMap(l *meta.Link) provider.SegmentMap {
	return provider.SegmentMap{
		Link: l.ID, Root: l.Root, Hash: l.SegmentHash, SegmentSize: l.SegmentSize,
		SealedLen: l.SealedLen, Hashes: l.Segments,
		// The owner's tag: what RecoverLinks needs to find it again.
		Locator: e.owner.locator,
		Tag:     sealTag(e.owner, l.Root, l.Address, tagBody{Chunk: l.Chunk, Link: l.ID}),
	}
}

// sendReplica takes l from sending_segment_map with its whole replica in
// one round trip (provider.Client.SendReplica): the segment map, every
// segment and the signature request go out together. The states are the
// same and persisted in the same order as step by step, each once its
// answer is in. Whatever did not go through (a segment not acknowledged,
// the pledge refused or not answered) goes on step by step from the state
// reached, so retransmissions and their bounds are sendData's.
func (e *Engine) sendReplica(ctx context.Context, l *meta.Link, p peer.ID, sealed []byte) error {
	n, ss := len(l.Segments), l.SegmentSize
	segs := make([]provider.Segment, n)
	for i := range segs {
		segs[i] = provider.Segment{Index: i, Data: sealed[i*ss : min((i+1)*ss, len(sealed))]}
	}
	sentAt := e.cfg.Now().UnixNano()
	r, err := e.net.SendReplica(ctx, p, e.segmentMap(l), segs, e.cfg.AckTimeout)
	switch {
	case !r.MapDone && err == nil:
		return fmt.Errorf("segment map: %w: not answered", meta.ErrUnavailable)
	case !r.MapDone || (r.MapErr != nil && !errors.Is(r.MapErr, meta.ErrAlreadyStored)):
		return fmt.Errorf("segment map: %w", err)
	case r.MapErr != nil:
		// The provider holds this replica already (we were cut off after
		// sending it): what counts is the pledge.
		if perr := e.advance(ctx, l, meta.LinkAskingForSignature); perr != nil {
			return perr
		}
	default:
		l.Progress = make([]meta.SegmentProgress, n)
		for i := range l.Progress {
			l.Progress[i] = meta.SegmentProgress{Tries: 1, SentAt: sentAt}
		}
		for _, i := range r.Acked {
			if i >= 0 && i < n {
				l.Progress[i].Acked = true
			}
		}
		if len(r.Acked) < n {
			// sendData resends the rest.
			e.log.Debug("replica sent in one go", "link", l.ID, "acked", len(r.Acked), "of", n, "err", err)
			return e.advance(ctx, l, meta.LinkSendingData)
		}
		l.Progress = nil // all acknowledged: keep the record small
		for _, s := range []meta.LinkState{meta.LinkSendingData, meta.LinkDataReceived, meta.LinkAskingForSignature} {
			if perr := e.advance(ctx, l, s); perr != nil {
				return perr
			}
		}
	}
	if err != nil || r.Pledge == nil {
		// No pledge yet (refused as incomplete, or cut off): ask again.
		e.log.Debug("no pledge with the replica", "link", l.ID, "err", errors.Join(err, r.PledgeErr))
		return nil
	}
	return e.signed(ctx, l, p, r.Pledge)
}

// checkPledge accepts a pledge only if the provider's own key signed it,
// for this client, this replica, its length and at least its expiry.
func (e *Engine) checkPledge(l *meta.Link, pl *meta.Pledge) error {
	if pl == nil {
		return fmt.Errorf("%w: no pledge", meta.ErrBadPledge)
	}
	if err := provider.VerifyPledge(pl, l.Address); err != nil {
		return err
	}
	switch {
	case pl.Root != l.Root:
		return fmt.Errorf("%w: pledge names root %s, want %s", meta.ErrBadPledge, pl.Root, l.Root)
	case pl.Length != l.SealedLen:
		return fmt.Errorf("%w: pledge length %d, want %d", meta.ErrBadPledge, pl.Length, l.SealedLen)
	case pl.Client != e.net.Address():
		return fmt.Errorf("%w: pledge for client %s", meta.ErrBadPledge, pl.Client)
	case pl.Expires < l.Expires.Unix():
		return fmt.Errorf("%w: pledge expires before the link", meta.ErrBadPledge)
	}
	return nil
}

// sendData sends every unacknowledged segment, again after the ack timeout,
// until all are acknowledged; a segment sent MaxSegmentTries times without
// an ack fails the link. Progress is persisted after every round.
func (e *Engine) sendData(ctx context.Context, l *meta.Link, p peer.ID, sealed []byte) error {
	n := len(l.Segments)
	if len(l.Progress) != n {
		l.Progress = make([]meta.SegmentProgress, n)
	}
	ss := l.SegmentSize
	for {
		var todo []provider.Segment
		for i := range l.Progress {
			pr := &l.Progress[i]
			if pr.Acked {
				continue
			}
			if pr.Tries >= e.cfg.MaxSegmentTries {
				return fmt.Errorf("segment %d not acknowledged after %d tries", i, pr.Tries)
			}
			end := min((i+1)*ss, len(sealed))
			todo = append(todo, provider.Segment{Index: i, Data: sealed[i*ss : end]})
		}
		if len(todo) == 0 {
			l.Progress = nil // all acknowledged: keep the record small
			return nil
		}
		sentAt := e.cfg.Now().UnixNano()
		acked, err := e.net.SendSegments(ctx, p, l.Root, todo, e.cfg.AckTimeout)
		for _, s := range todo {
			if l.Progress[s.Index].Tries > 0 {
				l.Retransmits++
			}
			l.Progress[s.Index].Tries++
			l.Progress[s.Index].SentAt = sentAt
		}
		for _, i := range acked {
			if i >= 0 && i < n {
				l.Progress[i].Acked = true
			}
		}
		if perr := e.persist(ctx, l); perr != nil {
			return perr
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, meta.ErrNotFound) {
				return err
			}
			e.log.Debug("send segments", "link", l.ID, "acked", len(acked), "of", len(todo), "err", err)
		}
	}
}

// sealLink seals the link's chunk under its own key on the sealing pool
// and fills in the segment hashes.
func (e *Engine) sealLink(ctx context.Context, l *meta.Link) (*buffer, error) {
	select {
	case e.seal <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-e.seal }()
	b := getBuffer(int(l.SealedLen))
	n, err := e.cache.ReadInto(l.Chunk, b.b)
	if errors.Is(err, meta.ErrCorrupt) {
		// Sealing a damaged chunk would place it, pledged, on the
		// network: take it from a replica instead, if it has one.
		e.log.Warn("cached chunk is corrupt", "chunk", l.Chunk, "err", err)
		_ = e.cache.Remove(l.Chunk)
	}
	if err != nil && !e.cache.Has(l.Chunk) {
		// Not here (a tree recovered from the network, or a cache lost):
		// a repair copies the chunk from a replica that still holds it.
		var c *chunkRef
		if c, err = e.chunk(ctx, l.Chunk); err == nil {
			n = copy(b.b, c.data())
			if perr := e.cache.Put(l.Chunk, c.data()); perr != nil {
				e.log.Warn("cache a fetched chunk", "chunk", l.Chunk, "err", perr)
			}
			c.release()
		}
	}
	if err != nil {
		b.release()
		return nil, fmt.Errorf("read chunk %s: %w", l.Chunk, err)
	}
	if int64(n) != l.SealedLen {
		b.release()
		return nil, fmt.Errorf("%w: cached chunk %s has %d bytes, want %d", meta.ErrCorrupt, l.Chunk, n, l.SealedLen)
	}
	seal.Seal(e.linkKey(l), b.b, b.b)
	l.Segments = merkle.SegmentHashes(e.hasher(l), b.b, l.SegmentSize)
	return b, nil
}

// linkKey is l's key: the one its share tag carried, else derived from
// the master secret.
func (e *Engine) linkKey(l *meta.Link) [32]byte {
	if len(l.Key) == 32 {
		return [32]byte(l.Key)
	}
	return seal.LinkKey(e.cfg.Master, l.Chunk, l.Address, l.ID)
}

func (e *Engine) hasher(l *meta.Link) merkle.Hasher {
	h, err := merkle.HasherFor(l.SegmentHash)
	if err != nil {
		// Links are only made with known hashes; an unknown one is a
		// corrupt record and must not verify anything.
		return func(...[]byte) meta.ID { return meta.ID{} }
	}
	return h
}

// maxRewinds bounds how often one link may go back to its segment map.
const maxRewinds = 3

// rewind reports whether l may go back to sending its segment map again,
// counting the times it did.
func (e *Engine) rewind(l *meta.Link) bool {
	if l.Rewinds >= maxRewinds {
		return false
	}
	l.Rewinds++
	return true
}

func (e *Engine) advance(ctx context.Context, l *meta.Link, s meta.LinkState) error {
	l.State = s
	return e.persist(ctx, l)
}

func (e *Engine) persist(ctx context.Context, l *meta.Link) error {
	return e.persistWith(ctx, l, nil)
}

// persistWith persists l and what also writes (if not nil) in one
// transaction.
func (e *Engine) persistWith(ctx context.Context, l *meta.Link, also func(meta.Tx) error) error {
	l.Updated = e.cfg.Now()
	// Persist even while shutting down: the state reached is real.
	return e.linkWrites.put(context.WithoutCancel(ctx), e.store, l, also)
}

func (e *Engine) fail(l *meta.Link, cause error) error {
	l.State = meta.LinkFailed
	l.Error = cause.Error()
	return e.persist(context.Background(), l)
}
