package provider

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protowire"

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
	bytesField := func(num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
	}
	varintField := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	root, lk := meta.ID{1, 2, 3}, meta.NewLinkID()
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
		{"list limit too big", frame(cat([]byte{wire.Version, byte(wire.TypeList)}, bytesField(1, root[:]),
			varintField(3, wire.MaxList+1))), wire.CodeTooLarge},
		{"list without locator", frame(cat([]byte{wire.Version, byte(wire.TypeList)}, varintField(3, 1))), wire.CodeMalformed},
		{"truncated list", frame(cat([]byte{wire.Version, byte(wire.TypeList)}, bytesField(1, root[:])))[:20], wire.CodeMalformed},
		{"tag too big", frame(cat([]byte{wire.Version, byte(wire.TypeTag)}, bytesField(1, root[:]), bytesField(2, root[:]),
			bytesField(3, make([]byte, wire.MaxTag+1)))), wire.CodeTooLarge},
		{"segment map tag too big", frame(cat([]byte{wire.Version, byte(wire.TypeSegmentMap)}, bytesField(1, root[:]), varintField(3, 1),
			bytesField(5, lk[:]), bytesField(7, root[:]), bytesField(8, make([]byte, wire.MaxTag+1)))), wire.CodeTooLarge},
		{"put root short signature", frame(cat([]byte{wire.Version, byte(wire.TypePutRoot)}, bytesField(1, bytes.Repeat([]byte{1}, 20)),
			bytesField(2, root[:]), bytesField(5, make([]byte, 64)))), wire.CodeMalformed},
		{"truncated put root", frame(cat([]byte{wire.Version, byte(wire.TypePutRoot)}, bytesField(1, bytes.Repeat([]byte{1}, 20))))[:15],
			wire.CodeMalformed},
		{"get root short owner", frame(cat([]byte{wire.Version, byte(wire.TypeGetRoot)}, bytesField(1, make([]byte, 19)))), wire.CodeMalformed},
		{"list reply sent as request", okFrame(&wire.ListReply{}), wire.CodeMalformed},
		{"root sent as request", okFrame(&wire.RootMsg{Record: wire.RootRecord{Owner: common.Address{1}, Root: root,
			Signature: make([]byte, wire.SignatureLen)}}), wire.CodeMalformed},
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
	// Refusals of the recovery messages leave the stream usable too.
	forged, err := SignRoot(newKey(t), meta.ID{1}, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged.Owner = common.Address{1}
	for _, req := range []wire.Msg{
		&wire.PutRoot{Record: *forged.wire()},
		&wire.GetRoot{Owner: common.Address{1}},
		&wire.Tag{Root: meta.ID{1}, Locator: meta.ID{2}},
	} {
		if e, ok := send(req).(*wire.Error); !ok || e.Code == wire.CodeMalformed {
			t.Fatalf("%v: %+v, want a refusal", req.Type(), e)
		}
	}
	if l, ok := send(&wire.List{Locator: meta.ID{3}, Limit: 5}).(*wire.ListReply); !ok || len(l.Entries) != 0 || l.More {
		t.Fatalf("list of an unknown locator: %+v", l)
	}
	if _, ok := send(&wire.OfferRequest{}).(*wire.Offer); !ok {
		t.Fatal("no offer after refusals")
	}
	st.CloseWrite()
	if _, err := wire.ReadMsg(r, 0); err != io.EOF {
		t.Fatalf("after CloseWrite: %v, want EOF", err)
	}
}
