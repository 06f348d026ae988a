package provider

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/wire"
)

// Offer is a provider's terms as the client saw them.
type Offer struct {
	Peer            peer.ID
	Address         common.Address // checked to be the one of Peer's key
	PricePerByteDay *big.Int       // wei
	Free            int64          // bytes
	MaxExpiry       time.Duration
	MaxSealedLen    int64
	Latency         time.Duration // of the OFFER round trip
}

// Offer asks p for its terms.
func (c *Client) Offer(ctx context.Context, p peer.ID) (Offer, error) {
	want, err := AddressOf(p)
	if err != nil {
		return Offer{}, err
	}
	var o Offer
	err = c.exchange(ctx, p, true, c.cfg.RequestTimeout, func(ctx context.Context, cs *cstream) error {
		start := time.Now()
		reply, err := roundTrip(cs, &wire.OfferRequest{})
		if err != nil {
			return err
		}
		m, err := expect[*wire.Offer](reply, wire.TypeOffer)
		if err != nil {
			return err
		}
		o = Offer{
			Peer:            p,
			Address:         m.Address,
			PricePerByteDay: m.PricePerByteDay,
			Free:            m.FreeBytes,
			MaxExpiry:       time.Duration(min(m.MaxExpiry, int64(1<<63-1)/int64(time.Second))) * time.Second,
			MaxSealedLen:    m.MaxSealedLen,
			Latency:         time.Since(start),
		}
		return nil
	})
	if err != nil {
		return Offer{}, fmt.Errorf("offer from %s: %w", p, err)
	}
	if o.PricePerByteDay == nil {
		o.PricePerByteDay = new(big.Int)
	}
	if o.Address != want {
		// Its pledges could never verify against its peer id.
		return Offer{}, fmt.Errorf("offer from %s: %w: it claims address %s, its key is %s",
			p, meta.ErrInvalid, o.Address, want)
	}
	return o, nil
}

// StoreRequest is what Store asks a provider to reserve for one link.
type StoreRequest struct {
	Link      meta.LinkID // random; never the chunk id
	SealedLen int64
	Expires   int64    // unix seconds
	Price     *big.Int // wei per byte per day
}

// Store sends STORE_CHUNK_REQUEST. nil means accepted; a refusal wraps
// meta.ErrDeclined or meta.ErrNoSpace. Asking again for the same link is
// harmless.
func (c *Client) Store(ctx context.Context, p peer.ID, req StoreRequest) error {
	err := c.simple(ctx, p, &wire.StoreRequest{
		LinkID: req.Link, SealedLen: req.SealedLen, Expires: req.Expires, Price: req.Price,
	})
	if err != nil {
		return fmt.Errorf("store request to %s: %w", p, err)
	}
	return nil
}

// SegmentMap is the segment tree of one link's sealed replica. A non-zero
// Locator files the replica under it with Tag (at most wire.MaxTag bytes,
// opaque to the provider: encrypt it), so that List finds it again.
type SegmentMap struct {
	Link        meta.LinkID
	Root        meta.ID
	Hash        string // merkle.HashKeccak256 or merkle.HashBlake3
	SegmentSize int
	SealedLen   int64
	Hashes      []meta.ID
	Locator     meta.ID // zero: none
	Tag         []byte
}

// SendSegmentMap sends STORE_CHUNK_SEGMENTS. It returns an error wrapping
// meta.ErrAlreadyStored when the provider holds the root complete: go
// straight to RequestPledge. Sending it again for a root partly sent
// (also after a provider restart) is accepted: send what is not acked.
func (c *Client) SendSegmentMap(ctx context.Context, p peer.ID, m SegmentMap) error {
	err := c.simple(ctx, p, &wire.SegmentMap{
		Root: m.Root, Hash: m.Hash, SegmentSize: m.SegmentSize, SealedLen: m.SealedLen,
		LinkID: m.Link, Hashes: m.Hashes, Locator: m.Locator, Tag: m.Tag,
	})
	if err != nil {
		return fmt.Errorf("segment map to %s: %w", p, err)
	}
	return nil
}

// simple sends a request whose answer is Ok.
func (c *Client) simple(ctx context.Context, p peer.ID, req wire.Msg) error {
	return c.exchange(ctx, p, true, c.cfg.RequestTimeout, func(ctx context.Context, cs *cstream) error {
		reply, err := roundTrip(cs, req)
		if err != nil {
			return err
		}
		_, err = expect[*wire.Ok](reply, wire.TypeOk)
		return err
	})
}

// Segment is one segment of a sealed replica.
type Segment struct {
	Index int
	Data  []byte
}

// SendSegments writes all segs pipelined on one stream and collects the
// acks until every segment was answered or ackTimeout passed since the
// last one was written. It returns the indexes acked, ascending; the
// others (refused as bad, or not answered) are the caller's to retransmit,
// within its own bound on tries. The error is for transport failures and
// for an Error reply (e.g. meta.ErrNotFound when the provider has no map
// for root); the stream is then reset. segs' bytes are not used after
// SendSegments returns.
func (c *Client) SendSegments(ctx context.Context, p peer.ID, root meta.ID, segs []Segment, ackTimeout time.Duration) ([]int, error) {
	if len(segs) == 0 {
		return nil, nil
	}
	var r pipeResult
	err := c.exchange(ctx, p, false, 0, func(ctx context.Context, cs *cstream) error {
		var err error
		r, err = c.pipeline(cs, root, nil, segs, nil, ackTimeout)
		return err
	})
	if errors.Is(err, errAckTimeout) {
		return r.acked, nil
	}
	if err != nil {
		return r.acked, fmt.Errorf("segments to %s: %w", p, err)
	}
	return r.acked, nil
}

// Replica is what SendReplica learned of one link's replica.
type Replica struct {
	// MapDone says the provider answered the segment map: it took it
	// (MapErr nil) or holds the replica already (MapErr wraps
	// meta.ErrAlreadyStored).
	MapDone bool
	MapErr  error
	Acked   []int        // the segments acknowledged, ascending
	Pledge  *meta.Pledge // as received (not verified: see VerifyPledge), or nil
	// PledgeErr says why no pledge came when the provider answered the
	// request with a refusal (wraps ErrIncomplete when segments are
	// missing).
	PledgeErr error
}

// SendReplica pipelines on one stream what SendSegmentMap, SendSegments and
// RequestPledge send one after the other: STORE_CHUNK_SEGMENTS, every
// segment's STORE_CHUNK_DATA, then STORE_CHUNK_SIGNATURE_REQUEST; then it
// reads their answers. One round trip instead of three: a provider handles
// a stream's requests in order, so the map is in place before the data,
// and the data before the request. Each request is idempotent, so writing
// ahead of the answers loses nothing: what the Replica does not show as
// done, the caller does again step by step. The error is for a refused map
// (other than already stored), for transport failures, and for answers out
// of step; the Replica then holds what was answered before it.
func (c *Client) SendReplica(ctx context.Context, p peer.ID, m SegmentMap, segs []Segment, ackTimeout time.Duration) (Replica, error) {
	provider, err := AddressOf(p)
	if err != nil {
		return Replica{}, err
	}
	if ackTimeout <= 0 {
		ackTimeout = c.cfg.RequestTimeout
	}
	head := &wire.SegmentMap{
		Root: m.Root, Hash: m.Hash, SegmentSize: m.SegmentSize, SealedLen: m.SealedLen,
		LinkID: m.Link, Hashes: m.Hashes, Locator: m.Locator, Tag: m.Tag,
	}
	var r pipeResult
	// Retried once on a new stream when a pooled one turns out dead, as
	// SendSegmentMap and RequestPledge are: all of it is idempotent.
	err = c.exchange(ctx, p, true, 0, func(ctx context.Context, cs *cstream) error {
		var err error
		r, err = c.pipeline(cs, m.Root, head, segs, &wire.SignatureRequest{Root: m.Root}, ackTimeout)
		return err
	})
	out := Replica{MapDone: r.headDone, MapErr: r.headErr, Acked: r.acked}
	if r.tail != nil {
		out.Pledge = &meta.Pledge{Provider: provider, Client: c.addr, Root: r.tail.Root, Length: r.tail.Length,
			Expires: r.tail.Expires, Signature: r.tail.Signature}
	}
	if r.tailErr != nil {
		out.PledgeErr = fmt.Errorf("pledge from %s: %w", p, r.tailErr)
		var e *wire.Error
		if errors.As(r.tailErr, &e) && e.Code == wire.CodeIncomplete {
			out.PledgeErr = fmt.Errorf("pledge from %s: %w: %w", p, ErrIncomplete, r.tailErr)
		}
	}
	if errors.Is(err, errAckTimeout) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("replica to %s: %w", p, err)
	}
	return out, nil
}

// errAckTimeout ends a pipeline whose acks stopped coming: not a failure
// of SendSegments, but the stream is out of step and must not be reused.
var errAckTimeout = errors.New("ack timeout")

// pipeResult is what a pipeline read back.
type pipeResult struct {
	headDone bool
	headErr  error // a refusal of head the stream survives (already stored)
	acked    []int // ascending, each once
	tail     *wire.PledgeMsg
	tailErr  error // a refusal of tail (incomplete)
}

// pipeline writes head (if any), a Data for each of segs and tail (if any)
// on cs, and reads their answers. head must be answered by Ok or an Error;
// tail (a signature request) by a pledge or an Error, which comes after
// the answers of every segment the provider answers at all (it drops
// none but the test fault), so an Error after head's answer is tail's.
func (c *Client) pipeline(cs *cstream, root meta.ID, head wire.Msg, segs []Segment, tail wire.Msg, ackTimeout time.Duration) (res pipeResult, err error) {
	// The reader's deadline moves: while data is being written, each
	// batch of progress renews it; once all is written, ackTimeout runs
	// (plus the request timeout when a signature request waits for the
	// provider's sync).
	var dl sync.Mutex
	writing := true
	renew := func() {
		dl.Lock()
		if writing {
			cs.st.SetReadDeadline(time.Now().Add(c.cfg.RequestTimeout))
		}
		dl.Unlock()
	}
	renew()
	last := ackTimeout
	if tail != nil {
		last += c.cfg.RequestTimeout
	}

	wrote := make(chan error, 1)
	go func() {
		var err error
		if head != nil {
			cs.st.SetWriteDeadline(time.Now().Add(c.cfg.RequestTimeout))
			err = wire.WriteMsg(cs.w, head)
		}
		for i, s := range segs {
			if err != nil {
				break
			}
			if i%64 == 0 {
				cs.st.SetWriteDeadline(time.Now().Add(c.cfg.RequestTimeout))
			}
			err = wire.WriteData(cs.w, &wire.Data{Root: root, Index: s.Index, Bytes: s.Data})
		}
		if err == nil && tail != nil {
			err = wire.WriteMsg(cs.w, tail)
		}
		if err == nil {
			err = cs.w.Flush()
		}
		dl.Lock()
		writing = false
		if err == nil {
			cs.st.SetReadDeadline(time.Now().Add(last))
		}
		dl.Unlock()
		wrote <- err
	}()
	defer func() {
		slices.Sort(res.acked)
		res.acked = slices.Compact(res.acked)
	}()

	sent := make(map[int]bool, len(segs))
	for _, s := range segs {
		sent[s.Index] = true
	}
	answered := 0
	res.headDone = head == nil
	tailDone := tail == nil
	for !res.headDone || answered < len(segs) || !tailDone {
		var m wire.Msg
		if m, err = wire.ReadMsg(cs.r, wire.MaxFrame); err != nil {
			break
		}
		switch m := m.(type) {
		case *wire.Ok:
			if res.headDone {
				err = fmt.Errorf("%w: an Ok out of turn", wire.ErrMalformed)
			}
			res.headDone = true
		case *wire.DataAck:
			switch {
			case !res.headDone:
				err = fmt.Errorf("%w: got DataAck, want the answer to the segment map", wire.ErrMalformed)
			case m.Root != root || !sent[m.Index]:
				err = fmt.Errorf("%w: ack for segment %d of root %s, not sent", wire.ErrMalformed, m.Index, m.Root)
			case m.Code == wire.CodeOK:
				res.acked = append(res.acked, m.Index)
			default:
				c.log.Debug("segment refused", "root", root, "index", m.Index, "code", m.Code)
			}
			answered++
			if answered%64 == 0 {
				renew()
			}
		case *wire.PledgeMsg:
			if tail == nil || !res.headDone || tailDone {
				err = fmt.Errorf("%w: a pledge out of turn", wire.ErrMalformed)
			} else if m.Root != root {
				err = fmt.Errorf("%w: pledge for root %s, asked %s", wire.ErrMalformed, m.Root, root)
			}
			// Every segment before the request was handled: those not
			// answered by now never will be.
			res.tail, tailDone = m, true
			answered = len(segs)
		case *wire.Error:
			switch {
			case !res.headDone:
				// Already stored: the data and the request that follow
				// are still answered. Any other refusal ends it.
				res.headDone, res.headErr = true, m
				if m.Code != wire.CodeAlreadyStored {
					err = m
				}
			case res.headDone && tail != nil && !tailDone && reusable(m):
				// The request's refusal comes after every answer to the
				// segments: those not answered never will be.
				res.tailErr, tailDone = m, true
				answered = len(segs)
			default:
				err = m
			}
		default:
			err = fmt.Errorf("%w: got %v, want DataAck", wire.ErrMalformed, m.Type())
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		cs.st.Reset() // unblock the writer
		cs.reset = true
	}
	werr := <-wrote
	switch {
	case err == nil && werr == nil:
		return res, nil
	case werr != nil && err == nil:
		return res, werr
	case werr == nil && isTimeout(err):
		// Some segments were never answered: the caller resends them.
		return res, errAckTimeout
	}
	return res, err
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// RequestPledge sends STORE_CHUNK_SIGNATURE_REQUEST and returns the pledge
// as received, with Provider set from p's key and Client to c.Address().
// It is not verified: check it with VerifyPledge before trusting it. An
// error wrapping ErrIncomplete means segments are missing at the provider.
func (c *Client) RequestPledge(ctx context.Context, p peer.ID, root meta.ID) (*meta.Pledge, error) {
	pl, err := c.pledgeExchange(ctx, p, root, &wire.SignatureRequest{Root: root})
	var e *wire.Error
	if errors.As(err, &e) && e.Code == wire.CodeIncomplete {
		return nil, fmt.Errorf("pledge from %s: %w: %w", p, ErrIncomplete, err)
	}
	if err != nil {
		return nil, fmt.Errorf("pledge from %s: %w", p, err)
	}
	return pl, nil
}

// pledgeExchange sends req, whose answer is a pledge for root (a signature
// request or a renewal), and returns the pledge, not yet verified.
func (c *Client) pledgeExchange(ctx context.Context, p peer.ID, root meta.ID, req wire.Msg) (*meta.Pledge, error) {
	provider, err := AddressOf(p)
	if err != nil {
		return nil, err
	}
	var pl *meta.Pledge
	err = c.exchange(ctx, p, true, c.cfg.RequestTimeout, func(ctx context.Context, cs *cstream) error {
		reply, err := roundTrip(cs, req)
		if err != nil {
			return err
		}
		m, err := expect[*wire.PledgeMsg](reply, wire.TypePledge)
		if err != nil {
			return err
		}
		if m.Root != root {
			return fmt.Errorf("%w: pledge for root %s, asked %s", wire.ErrMalformed, m.Root, root)
		}
		pl = &meta.Pledge{Provider: provider, Client: c.addr, Root: m.Root, Length: m.Length,
			Expires: m.Expires, Signature: m.Signature}
		return nil
	})
	return pl, err
}

// ErrIncomplete is wrapped by RequestPledge's error when the provider lacks
// segments of the root (it may have lost unsynced ones in a crash): send
// the segments again (acks are idempotent) and ask again.
var ErrIncomplete = errors.New("provider lacks segments")

// GetSegments fetches count segments of root from index first (GET_CHUNK),
// in as many requests as the frame cap needs. The segments are not
// verified: check them against the link's segment hashes.
func (c *Client) GetSegments(ctx context.Context, p peer.ID, root meta.ID, first, count int) ([][]byte, error) {
	out := make([][]byte, 0, count)
	err := c.ReadSegments(ctx, p, root, first, count, func(_ int, seg []byte) error {
		out = append(out, slices.Clone(seg))
		return nil
	})
	return out, err
}

// replyBufs holds buffers for GET_CHUNK replies: a cold read takes one
// reply of a chunk's segments per chunk, and reading each into a new
// buffer (grown as its bytes arrive) cost more in zeroing and copying
// than the segments' own hashing.
var replyBufs sync.Pool

// ReadSegments fetches count segments of root from index first (GET_CHUNK),
// in as many requests as the frame cap needs, and hands each to fn in
// order, index and bytes. A segment is valid only until fn returns: fn
// copies what it keeps. An error from fn ends the read with that error.
// The segments are not verified: check them against the link's segment
// hashes.
func (c *Client) ReadSegments(ctx context.Context, p peer.ID, root meta.ID, first, count int, fn func(i int, seg []byte) error) error {
	if first < 0 || count < 1 || first+count > wire.MaxCount {
		return fmt.Errorf("%w: segments [%d, %d)", meta.ErrInvalid, first, first+count)
	}
	var buf []byte
	if b, ok := replyBufs.Get().(*[]byte); ok {
		buf = *b
	}
	defer func() {
		buf = buf[:0]
		replyBufs.Put(&buf)
	}()
	for next := first; next < first+count; {
		var fnErr error
		err := c.exchange(ctx, p, true, c.cfg.RequestTimeout, func(ctx context.Context, cs *cstream) error {
			left := first + count - next
			reply, payload, err := roundTripInto(cs, &wire.GetChunk{Root: root, First: next, Count: left}, buf)
			if cap(payload) > cap(buf) {
				buf = payload[:0] // keep the larger buffer for the next reply
			}
			if err != nil {
				return err
			}
			m, err := expect[*wire.ChunkData](reply, wire.TypeChunkData)
			if err != nil {
				return err
			}
			if m.Root != root || m.First != next || len(m.Segments) == 0 || len(m.Segments) > left {
				return fmt.Errorf("%w: chunk data of %d segments from %d of root %s, asked %d from %d of %s",
					wire.ErrMalformed, len(m.Segments), m.First, m.Root, left, next, root)
			}
			// The stream is in step whatever fn says: its error is the
			// reader's, returned after the stream is back in the pool.
			for _, seg := range m.Segments {
				if fnErr = fn(next, seg); fnErr != nil {
					return nil
				}
				next++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("get chunk from %s: %w", p, err)
		}
		if fnErr != nil {
			return fnErr
		}
	}
	return nil
}
