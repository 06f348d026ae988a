package provider

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/provider/wire"
)

// rawStream opens a protocol stream from c's host to s, bypassing the
// client's codec, so tests can send bytes no client would.
func rawStream(t *testing.T, c *Client, s *Server) network.Stream {
	t.Helper()
	know(c, s)
	st, err := c.Host().NewStream(testCtx(t), s.ID(), protocol.ID(ProtocolID))
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	return st
}

func TestServerAnswersBadInputWithError(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t)
	frame := func(payload []byte) []byte {
		return append(binary.AppendUvarint(nil, uint64(len(payload))), payload...)
	}
	okFrame := func(m wire.Msg) []byte {
		var b bytes.Buffer
		if err := wire.WriteMsg(&b, m); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	cases := []struct {
		name  string
		input []byte
		code  wire.Code
	}{
		{"garbage body", frame([]byte{wire.Version, byte(wire.TypeStoreRequest), 0xff, 0xff, 0xff}), wire.CodeMalformed},
		{"truncated frame", frame(bytes.Repeat([]byte{1}, 100))[:20], wire.CodeMalformed},
		{"oversized length", binary.AppendUvarint(nil, 1<<40), wire.CodeTooLarge},
		{"just over the cap", binary.AppendUvarint(nil, wire.MaxFrame+1), wire.CodeTooLarge},
		{"wrong version", frame([]byte{9, byte(wire.TypeOfferRequest)}), wire.CodeUnsupportedVersion},
		{"unknown type", frame([]byte{wire.Version, 99}), wire.CodeMalformed},
		{"reply sent as request", okFrame(&wire.Ok{}), wire.CodeMalformed},
		{"data for unknown root", okFrame(&wire.Data{Root: meta.ID{1}, Bytes: []byte("x")}), wire.CodeUnknownLink},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := rawStream(t, c, s)
			if _, err := st.Write(tc.input); err != nil {
				t.Fatal(err)
			}
			st.CloseWrite() // a truncated frame must end somewhere
			r := bufio.NewReader(st)
			m, err := wire.ReadMsg(r, 0)
			if err != nil {
				t.Fatalf("no Error reply: %v", err)
			}
			e, ok := m.(*wire.Error)
			if !ok || e.Code != tc.code {
				t.Fatalf("reply %+v, want Error with code %v", m, tc.code)
			}
			if _, err := wire.ReadMsg(r, 0); err == nil {
				t.Fatal("stream still open after the Error")
			}
			st.Reset()

			// The provider still serves a new stream.
			o, err := c.Offer(testCtx(t), s.ID())
			if err != nil {
				t.Fatalf("OFFER after %s: %v", tc.name, err)
			}
			if o.Address != s.Address() {
				t.Fatalf("offer from %s, want %s", o.Address, s.Address())
			}
		})
	}
	if got := s.Stats().ProtocolErrors; got != int64(len(cases)) {
		t.Fatalf("ProtocolErrors = %d, want %d", got, len(cases))
	}
}

// Several requests share one stream, and a refusal leaves it usable.
func TestStreamCarriesManyExchanges(t *testing.T) {
	s := startServer(t, nil)
	c := startClient(t)
	st := rawStream(t, c, s)
	r, w := bufio.NewReader(st), bufio.NewWriter(st)
	send := func(m wire.Msg) wire.Msg {
		t.Helper()
		if err := wire.WriteMsg(w, m); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		reply, err := wire.ReadMsg(r, 0)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	if _, ok := send(&wire.OfferRequest{}).(*wire.Offer); !ok {
		t.Fatal("no offer")
	}
	reply := send(&wire.StoreRequest{LinkID: meta.NewLinkID(), SealedLen: 10, Expires: time.Now().Add(1000 * 24 * time.Hour).Unix()})
	if e, ok := reply.(*wire.Error); !ok || !errors.Is(e, meta.ErrDeclined) {
		t.Fatalf("too far an expiry: %+v", reply)
	}
	if _, ok := send(&wire.OfferRequest{}).(*wire.Offer); !ok {
		t.Fatal("no offer after a refusal")
	}
	st.CloseWrite()
	if _, err := wire.ReadMsg(r, 0); err != io.EOF {
		t.Fatalf("after CloseWrite: %v, want EOF", err)
	}
}
