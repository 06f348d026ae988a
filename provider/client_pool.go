package provider

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/pointfs/pointfs/provider/wire"
)

// idleTTL is how long a pooled stream may rest before it is not reused:
// well under the provider's idle timeout, so a reused stream is rarely one
// the provider has just closed.
const idleTTL = time.Minute

// peerPool is the client's state for one provider: a semaphore bounding
// requests in flight and the idle streams left by finished ones.
type peerPool struct {
	sem  chan struct{}
	mu   sync.Mutex
	idle []*cstream
}

// cstream is a stream with its buffers; the reader must stay with its
// stream, since it may hold bytes already read from it.
type cstream struct {
	st   network.Stream
	r    *bufio.Reader
	w    *bufio.Writer
	used time.Time
	// reset is set by an fn that reset the stream itself: it must not go
	// back to the pool whatever fn returned.
	reset bool
}

func (pp *peerPool) get() *cstream {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for len(pp.idle) > 0 {
		cs := pp.idle[len(pp.idle)-1]
		pp.idle = pp.idle[:len(pp.idle)-1]
		if time.Since(cs.used) < idleTTL {
			return cs
		}
		cs.st.Close()
	}
	return nil
}

func (pp *peerPool) put(cs *cstream) {
	cs.used = time.Now()
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if len(pp.idle) >= cap(pp.sem) {
		cs.st.Close()
		return
	}
	pp.idle = append(pp.idle, cs)
}

func (pp *peerPool) closeIdle() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, cs := range pp.idle {
		cs.st.Close()
	}
	pp.idle = nil
}

// exchange runs fn on a stream to p, holding one of p's in-flight slots,
// under a deadline (the earlier of ctx's and timeout). The stream
// goes back to the pool when fn succeeds or got a refusal that leaves the
// stream usable; any other failure resets it. When retry is set and a
// stream taken from the pool fails in transport (the provider may have
// closed it meanwhile), fn runs once more on a fresh stream: only
// idempotent requests ask for that.
//
// timeout bounds the whole exchange (none when 0: fn manages deadlines).
func (c *Client) exchange(ctx context.Context, p peer.ID, retry bool, timeout time.Duration, fn func(ctx context.Context, cs *cstream) error) error {
	pp, err := c.pool(p)
	if err != nil {
		return err
	}
	select {
	case pp.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-pp.sem }()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		cs, reused := pp.get(), true
		if cs == nil {
			reused = false
			octx, ocancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
			cs, err = c.open(octx, p)
			ocancel()
			if err != nil {
				return err
			}
		}
		if deadline, ok := ctx.Deadline(); ok {
			cs.st.SetDeadline(deadline)
		}
		// A cancelled ctx must unblock fn's reads and writes at once.
		stop := context.AfterFunc(ctx, func() { cs.st.Reset() })
		err = fn(ctx, cs)
		if !stop() {
			if err == nil {
				return nil // done just as ctx ended; the stream is gone
			}
			return fmt.Errorf("provider %s: %w (%v)", p, ctx.Err(), err)
		}
		if reusable(err) && !cs.reset {
			cs.st.SetDeadline(time.Time{})
			pp.put(cs)
		} else {
			cs.st.Reset()
		}
		if err != nil && retry && reused && attempt == 0 && isTransport(err) {
			c.log.Debug("pooled stream failed, retrying on a new one", "peer", p, "err", err)
			continue
		}
		return err
	}
}

// reusable reports whether a stream is still in step after fn returned err.
func reusable(err error) bool {
	var e *wire.Error
	if err == nil {
		return true
	}
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case wire.CodeDeclined, wire.CodeAlreadyStored, wire.CodeNoSpace, wire.CodeIncomplete, wire.CodeStale:
		return true // refusals within the protocol; the provider keeps the stream
	}
	return false
}

func isTransport(err error) bool {
	var e *wire.Error
	return !errors.As(err, &e) && !wire.IsProtocolError(err) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// open opens a protocol stream to p. When the addresses the peerstore has
// for p fail (none known, or stale), it asks the DHT where p is now.
func (c *Client) open(ctx context.Context, p peer.ID) (*cstream, error) {
	st, err := c.host.NewStream(ctx, p, protocol.ID(ProtocolID))
	if err != nil && ctx.Err() == nil {
		if ai, ferr := c.dht.FindPeer(ctx, p); ferr == nil && len(ai.Addrs) > 0 {
			c.host.Peerstore().AddAddrs(p, ai.Addrs, peerstore.AddressTTL)
			st, err = c.host.NewStream(ctx, p, protocol.ID(ProtocolID))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("provider %s: open stream: %w", p, err)
	}
	return &cstream{st: st, r: bufio.NewReaderSize(st, 64<<10), w: bufio.NewWriterSize(st, 64<<10)}, nil
}

// roundTrip sends req and reads one reply. An Error reply is returned as
// the error (a *wire.Error, which wraps the matching meta sentinel).
func roundTrip(cs *cstream, req wire.Msg) (wire.Msg, error) {
	reply, _, err := roundTripInto(cs, req, nil)
	return reply, err
}

// roundTripInto is roundTrip reading the reply into buf when it fits (see
// wire.ReadMsgInto); it also returns the payload the reply aliases.
func roundTripInto(cs *cstream, req wire.Msg, buf []byte) (wire.Msg, []byte, error) {
	if err := wire.WriteMsg(cs.w, req); err != nil {
		return nil, nil, err
	}
	if err := cs.w.Flush(); err != nil {
		return nil, nil, err
	}
	reply, payload, err := wire.ReadMsgInto(cs.r, wire.MaxFrame, buf)
	if err != nil {
		return nil, payload, err
	}
	if e, ok := reply.(*wire.Error); ok {
		return nil, payload, e
	}
	return reply, payload, nil
}

// expect returns reply as a T, or a protocol error naming what came.
func expect[T wire.Msg](reply wire.Msg, want wire.Type) (T, error) {
	m, ok := reply.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%w: got %v, want %v", wire.ErrMalformed, reply.Type(), want)
	}
	return m, nil
}
