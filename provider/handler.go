package provider

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/wire"
)

// conn is one stream being served. A stream carries any number of request
// and reply exchanges; Data messages may be pipelined (the client writes
// many, the replies follow in order), so replies are buffered and flushed
// whenever no further request is already waiting in the read buffer.
type conn struct {
	s         *Server
	st        network.Stream
	r         *bufio.Reader
	w         *bufio.Writer
	client    common.Address
	clientErr error // why the peer has no Ethereum address, if it has none
	// readBuf holds the segments of the GET_CHUNK being answered: a
	// reply is written before the next request is read, so one buffer
	// serves the stream's reads.
	readBuf []byte
}

func (s *Server) handleStream(st network.Stream) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		st.Reset()
		return
	}
	s.wg.Add(1)
	s.streams[st] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, st)
		s.mu.Unlock()
		s.wg.Done()
	}()
	c := &conn{s: s, st: st, r: bufio.NewReaderSize(st, 64<<10), w: bufio.NewWriterSize(st, 64<<10)}
	c.client, c.clientErr = AddressOf(st.Conn().RemotePeer())
	c.serve()
}

func (c *conn) serve() {
	var buf []byte // a payload buffer free for the next frame
	for {
		c.st.SetReadDeadline(time.Now().Add(c.s.t.idle))
		m, payload, err := wire.ReadMsgInto(c.r, wire.MaxFrame, buf)
		if err == io.EOF {
			c.flush()
			c.st.Close()
			return
		}
		if err != nil {
			if wire.IsProtocolError(err) {
				c.fail(err)
			} else {
				c.st.Reset() // transport failure or idle: nothing to say
			}
			return
		}
		reply, err := c.dispatch(m)
		if err != nil {
			c.fail(err)
			return
		}
		// A Data's bytes are done with once it is answered (written, or
		// refused); any other message may keep slices of its payload, so
		// its buffer goes with it.
		buf = nil
		if _, ok := m.(*wire.Data); ok {
			buf = payload
		}
		c.st.SetWriteDeadline(time.Now().Add(c.s.t.write))
		if reply != nil {
			if err := wire.WriteMsg(c.w, reply); err != nil {
				c.s.log.Error("encode reply", "type", reply.Type(), "err", err)
				c.st.Reset()
				return
			}
		}
		if c.r.Buffered() == 0 {
			if err := c.w.Flush(); err != nil {
				c.st.Reset()
				return
			}
		}
	}
}

func (c *conn) flush() {
	c.st.SetWriteDeadline(time.Now().Add(c.s.t.write))
	c.w.Flush()
}

// fail answers a protocol violation with an Error and closes the stream:
// after a bad frame the stream is out of step, and a peer that breaks the
// protocol gets no second guess. Replies buffered before go out first.
func (c *conn) fail(err error) {
	c.s.protoErrors.Add(1)
	c.s.log.Info("protocol error", "peer", c.st.Conn().RemotePeer(), "err", err)
	reply, ok := err.(*wire.Error)
	if !ok {
		reply = wire.Errorf(wire.CodeOf(err), "%v", err)
	}
	c.st.SetWriteDeadline(time.Now().Add(c.s.t.write))
	if werr := wire.WriteMsg(c.w, reply); werr == nil {
		if c.w.Flush() == nil {
			c.st.Close() // graceful: the Error reaches the peer before the end
			return
		}
	}
	c.st.Reset()
}

// dispatch handles one request. A returned error is a protocol violation
// (the stream is closed after the Error reply); refusals within the
// protocol are returned as a *wire.Error reply and the stream goes on.
func (c *conn) dispatch(m wire.Msg) (wire.Msg, error) {
	switch m := m.(type) {
	case *wire.OfferRequest:
		return c.s.offer(), nil
	case *wire.StoreRequest:
		if c.clientErr != nil {
			return wire.Errorf(wire.CodeDeclined, "%v", c.clientErr), nil
		}
		return c.s.storeRequest(c.client, m), nil
	case *wire.SegmentMap:
		if c.clientErr != nil {
			return wire.Errorf(wire.CodeDeclined, "%v", c.clientErr), nil
		}
		return c.s.segmentMap(c.client, m)
	case *wire.Data:
		return c.s.data(m)
	case *wire.SignatureRequest:
		if c.clientErr != nil {
			return wire.Errorf(wire.CodeDeclined, "%v", c.clientErr), nil
		}
		return c.s.signatureRequest(c.client, m.Root), nil
	case *wire.GetChunk:
		return c.s.getChunk(m, &c.readBuf)
	case *wire.Challenge:
		return c.s.challenge(m), nil
	case *wire.Renew:
		if c.clientErr != nil {
			return wire.Errorf(wire.CodeDeclined, "%v", c.clientErr), nil
		}
		return c.s.renew(c.client, m), nil
	case *wire.Micropayment:
		if c.clientErr != nil {
			return wire.Errorf(wire.CodeDeclined, "%v", c.clientErr), nil
		}
		return c.s.micropayment(c.client, m), nil
	case *wire.Release:
		if c.clientErr != nil {
			return wire.Errorf(wire.CodeDeclined, "%v", c.clientErr), nil
		}
		return c.s.release(c.client, m.Root), nil
	case *wire.Tag:
		if c.clientErr != nil {
			return wire.Errorf(wire.CodeDeclined, "%v", c.clientErr), nil
		}
		return c.s.tag(c.client, m), nil
	case *wire.List:
		return c.s.list(m), nil
	case *wire.PutRoot:
		return c.s.putRoot(m), nil
	case *wire.GetRoot:
		return c.s.getRoot(m), nil
	}
	return nil, fmt.Errorf("%w: %v is not a request", wire.ErrMalformed, m.Type())
}

// internal logs an unexpected failure and returns the reply that reports it
// without details (they are for the provider's operator).
func (s *Server) internal(what string, err error) *wire.Error {
	if errors.Is(err, meta.ErrClosed) {
		return wire.Errorf(wire.CodeInternal, "provider shutting down")
	}
	s.log.Error(what, "err", err)
	return wire.Errorf(wire.CodeInternal, "%s failed", what)
}
