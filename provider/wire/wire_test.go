package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pointfs/pointfs/meta"
)

func id(b byte) meta.ID {
	var x meta.ID
	for i := range x {
		x[i] = b + byte(i)
	}
	return x
}

func link(b byte) meta.LinkID {
	var l meta.LinkID
	for i := range l {
		l[i] = b ^ byte(i)
	}
	return l
}

// samples holds one populated value of every message type.
func samples() []Msg {
	sig := bytes.Repeat([]byte{7}, SignatureLen)
	return []Msg{
		&Error{Code: CodeDeclined, Message: "expiry too far — ünïcode"},
		&OfferRequest{},
		&Offer{Address: common.HexToAddress("0x00112233445566778899aabbccddeeff00112233"),
			PricePerByteDay: big.NewInt(123456789), FreeBytes: 10 << 30, MaxExpiry: 400 * 86400,
			MaxSegmentSize: MaxSegment, MaxSealedLen: 64 << 20},
		&StoreRequest{LinkID: link(1), SealedLen: 262144 + 28, Expires: 1_900_000_000, Price: big.NewInt(5)},
		&SegmentMap{Root: id(2), Hash: "blake3", SegmentSize: 16384, SealedLen: 3*16384 + 5,
			LinkID: link(3), Hashes: []meta.ID{id(4), id(5), id(6), id(7)}},
		&Data{Root: id(8), Index: 3, Bytes: []byte("segment bytes")},
		&DataAck{Root: id(9), Index: 65535, Code: CodeBadSegment},
		&SignatureRequest{Root: id(10)},
		&PledgeMsg{Root: id(11), Length: 1 << 40, Expires: 1_900_000_000, Signature: sig},
		&GetChunk{Root: id(12), First: 2, Count: 14},
		&ChunkData{Root: id(13), First: 2, Segments: [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{1}, 1000)}},
		&Ok{},
		&Challenge{Root: id(14), Index: 7, Nonce: id(15)},
		&ChallengeReply{Root: id(16), Index: 7, Nonce: id(17), Segment: []byte("seg"), Proof: []meta.ID{id(18), id(19)}},
		&Renew{Root: id(20), Expires: 1_900_000_000},
		&Release{Root: id(21)},
		&Micropayment{Contract: common.HexToAddress("0x00112233445566778899aabbccddeeff00112233"), Channel: 42,
			Cumulative: new(big.Int).Lsh(big.NewInt(1), 255), Signature: sig},
		&MicropaymentAck{Channel: 42, Cumulative: big.NewInt(1_000_000), Credited: big.NewInt(250_000)},
		&SegmentMap{Root: id(22), Hash: "keccak256", SegmentSize: 16384, SealedLen: 16384 + 1,
			LinkID: link(23), Hashes: []meta.ID{id(24), id(25)}, Locator: id(26), Tag: []byte("sealed tag")},
		&Tag{Root: id(27), Locator: id(28), Tag: bytes.Repeat([]byte{9}, MaxTag)},
		&List{Locator: id(29), After: id(30), Limit: MaxList},
		&ListReply{More: true, Entries: []ListEntry{
			{Root: id(31), Hash: "blake3", SegmentSize: 16384, SealedLen: 16384 + 28, Expires: 1_900_000_000,
				Hashes: []meta.ID{id(32), id(33)}, Tag: []byte("t"), Client: common.HexToAddress("0x0102030405060708090a0b0c0d0e0f1011121314"),
				PledgeLength: 16384 + 28, PledgeExpires: 1_900_000_000, Signature: sig},
			{Root: id(34), Hash: "keccak256", SegmentSize: 1, SealedLen: 0},
		}},
		&PutRoot{Record: RootRecord{Owner: common.HexToAddress("0x0102030405060708090a0b0c0d0e0f1011121314"),
			Root: id(35), Seq: 1<<64 - 1, Time: 1_800_000_000, Signature: sig}},
		&GetRoot{Owner: common.HexToAddress("0x0102030405060708090a0b0c0d0e0f1011121314")},
		&RootMsg{Record: RootRecord{Owner: common.HexToAddress("0x0102030405060708090a0b0c0d0e0f1011121314"),
			Root: id(36), Seq: 7, Signature: sig}},
	}
}

// normalize makes decoded and original values comparable: an empty slice
// and nil decode the same way, as do a nil and a zero price.
func normalize(m Msg) Msg {
	switch v := m.(type) {
	case *Offer:
		v.PricePerByteDay = normBig(v.PricePerByteDay)
	case *StoreRequest:
		v.Price = normBig(v.Price)
	case *ChunkData:
		for i, s := range v.Segments {
			if len(s) == 0 {
				v.Segments[i] = nil
			}
		}
	case *Data:
		if len(v.Bytes) == 0 {
			v.Bytes = nil
		}
	case *MicropaymentAck:
		v.Cumulative = normBig(v.Cumulative)
		v.Credited = normBig(v.Credited)
	case *Micropayment:
		v.Cumulative = normBig(v.Cumulative)
	case *SegmentMap:
		if len(v.Tag) == 0 {
			v.Tag = nil
		}
		if len(v.Hashes) == 0 {
			v.Hashes = nil
		}
	case *Tag:
		if len(v.Tag) == 0 {
			v.Tag = nil
		}
	case *ListReply:
		if len(v.Entries) == 0 {
			v.Entries = nil
		}
		for i := range v.Entries {
			e := &v.Entries[i]
			if len(e.Tag) == 0 {
				e.Tag = nil
			}
			if len(e.Hashes) == 0 {
				e.Hashes = nil
			}
			if len(e.Signature) == 0 {
				e.Signature = nil
			}
		}
	case *ChallengeReply:
		if len(v.Segment) == 0 {
			v.Segment = nil
		}
		if len(v.Proof) == 0 {
			v.Proof = nil
		}
	}
	return m
}

// normBig makes equal amounts DeepEqual: nil, zero and a zero decoded
// from a field of zero bytes all become new(big.Int).
func normBig(v *big.Int) *big.Int {
	if v == nil || v.Sign() == 0 {
		return new(big.Int)
	}
	return new(big.Int).SetBytes(v.Bytes())
}

func TestRoundTrip(t *testing.T) {
	var stream bytes.Buffer
	for _, m := range samples() {
		if err := WriteMsg(&stream, m); err != nil {
			t.Fatalf("WriteMsg(%v): %v", m.Type(), err)
		}
	}
	r := bufio.NewReader(&stream)
	for _, want := range samples() {
		got, err := ReadMsg(r, 0)
		if err != nil {
			t.Fatalf("ReadMsg(%v): %v", want.Type(), err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Errorf("%v: got %+v, want %+v", want.Type(), got, want)
		}
	}
	if _, err := ReadMsg(r, 0); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// A plain io.Reader (no ReadByte) works too.
func TestReadMsgPlainReader(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMsg(&buf, &GetChunk{Root: id(1), Count: 1}); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMsg(struct{ io.Reader }{&buf}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if g := m.(*GetChunk); g.Root != id(1) || g.Count != 1 {
		t.Fatalf("got %+v", g)
	}
}

func TestEmptyAndZeroValues(t *testing.T) {
	// A zero-length sealed replica has zero hashes; zero ints are omitted.
	m := &SegmentMap{Root: id(1), Hash: "keccak256", SegmentSize: 1, LinkID: link(1)}
	p, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("got %+v", got)
	}
}

func TestUnknownFieldsSkipped(t *testing.T) {
	body, err := (&Data{Root: id(1), Index: 2, Bytes: []byte("x")}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A later version's fields of every wire type, before and after.
	var extra []byte
	extra = protowire.AppendTag(extra, 99, protowire.VarintType)
	extra = protowire.AppendVarint(extra, 12345)
	extra = protowire.AppendTag(extra, 100, protowire.BytesType)
	extra = protowire.AppendBytes(extra, []byte("future"))
	extra = protowire.AppendTag(extra, 101, protowire.Fixed64Type)
	extra = protowire.AppendFixed64(extra, 1)
	extra = protowire.AppendTag(extra, 102, protowire.Fixed32Type)
	extra = protowire.AppendFixed32(extra, 1)
	payload := append([]byte{Version, byte(TypeData)}, extra...)
	payload = append(payload, body...)
	payload = append(payload, extra...)
	m, err := Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.(*Data); d.Index != 2 || string(d.Bytes) != "x" {
		t.Fatalf("got %+v", d)
	}
}

func frame(payload []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(payload))), payload...)
}

func bytesField(num protowire.Number, v []byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func varintField(num protowire.Number, v uint64) []byte {
	b := protowire.AppendTag(nil, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestBadFrames(t *testing.T) {
	root, lk := id(1), link(1)
	good := cat(bytesField(1, root[:]), varintField(2, 1), bytesField(3, []byte("x")))
	cases := []struct {
		name  string
		input []byte
		want  error
	}{
		{"truncated prefix", []byte{0x80}, ErrMalformed},
		{"truncated payload", frame(cat([]byte{Version, byte(TypeData)}, good))[:10], ErrMalformed},
		{"oversized prefix", binary.AppendUvarint(nil, MaxFrame+1), ErrTooLarge},
		{"huge prefix", binary.AppendUvarint(nil, 1<<62), ErrTooLarge},
		{"overflowing prefix", bytes.Repeat([]byte{0x80}, 12), ErrTooLarge},
		{"zero-length frame", []byte{0}, ErrMalformed},
		{"one-byte frame", frame([]byte{Version}), ErrMalformed},
		{"bad version", frame(cat([]byte{2, byte(TypeData)}, good)), ErrVersion},
		{"version zero", frame(cat([]byte{0, byte(TypeOk)})), ErrVersion},
		{"unknown type", frame([]byte{Version, 200}), ErrUnknownType},
		{"reserved type", frame([]byte{Version, 25}), ErrUnknownType},
		{"challenge without root", frame([]byte{Version, byte(TypeChallenge)}), ErrMalformed},
		{"type zero", frame([]byte{Version, 0}), ErrUnknownType},
		{"bad tag", frame([]byte{Version, byte(TypeOk), 0x80}), ErrMalformed},
		{"field zero", frame([]byte{Version, byte(TypeOk), 0x00, 0x00}), ErrMalformed},
		{"truncated bytes field", frame(cat([]byte{Version, byte(TypeData)}, bytesField(1, root[:])[:20])), ErrMalformed},
		{"short root", frame(cat([]byte{Version, byte(TypeData)}, bytesField(1, root[:31]))), ErrMalformed},
		{"long root", frame(cat([]byte{Version, byte(TypeData)}, bytesField(1, append(root[:], 0)))), ErrMalformed},
		{"missing root", frame(cat([]byte{Version, byte(TypeData)}, varintField(2, 1))), ErrMalformed},
		{"root as varint", frame(cat([]byte{Version, byte(TypeSignatureRequest)}, varintField(1, 5))), ErrMalformed},
		{"index as bytes", frame(cat([]byte{Version, byte(TypeData)}, bytesField(1, root[:]), bytesField(2, []byte{1}))), ErrMalformed},
		{"index too big", frame(cat([]byte{Version, byte(TypeData)}, bytesField(1, root[:]), varintField(2, MaxCount+1))), ErrTooLarge},
		{"int64 overflow", frame(cat([]byte{Version, byte(TypeStoreRequest)}, bytesField(1, make([]byte, 16)), varintField(2, 1<<63))), ErrMalformed},
		{"segment too big", frame(cat([]byte{Version, byte(TypeData)}, bytesField(1, root[:]), bytesField(3, make([]byte, MaxSegment+1)))), ErrTooLarge},
		{"short link id", frame(cat([]byte{Version, byte(TypeStoreRequest)}, bytesField(1, make([]byte, 15)))), ErrMalformed},
		{"zero link id", frame(cat([]byte{Version, byte(TypeStoreRequest)}, bytesField(1, make([]byte, 16)))), ErrMalformed},
		{"price too big", frame(cat([]byte{Version, byte(TypeStoreRequest)}, bytesField(4, make([]byte, 33)))), ErrTooLarge},
		{"short address", frame(cat([]byte{Version, byte(TypeOffer)}, bytesField(1, make([]byte, 19)))), ErrMalformed},
		{"long string", frame(cat([]byte{Version, byte(TypeError)}, bytesField(2, bytes.Repeat([]byte("a"), MaxString+1)))), ErrTooLarge},
		{"bad utf8", frame(cat([]byte{Version, byte(TypeError)}, bytesField(2, []byte{0xff, 0xfe}))), ErrMalformed},
		{"short signature", frame(cat([]byte{Version, byte(TypePledge)}, bytesField(1, root[:]), bytesField(4, make([]byte, 64)))), ErrMalformed},
		{"missing signature", frame(cat([]byte{Version, byte(TypePledge)}, bytesField(1, root[:]))), ErrMalformed},
		{"zero count", frame(cat([]byte{Version, byte(TypeGetChunk)}, bytesField(1, root[:]))), ErrMalformed},
		{"hashes not multiple of 32", frame(cat([]byte{Version, byte(TypeSegmentMap)}, bytesField(6, make([]byte, 33)))), ErrMalformed},
		{"too many hashes", frame(cat([]byte{Version, byte(TypeSegmentMap)}, bytesField(6, make([]byte, 32*(MaxHashes+1))))), ErrTooLarge},
		{"hash count mismatch", frame(cat([]byte{Version, byte(TypeSegmentMap)}, bytesField(1, root[:]), bytesField(2, []byte("blake3")),
			varintField(3, 10), varintField(4, 25), bytesField(5, lk[:]), bytesField(6, make([]byte, 64)))), ErrMalformed},
		{"segment size zero", frame(cat([]byte{Version, byte(TypeSegmentMap)}, bytesField(1, root[:]), bytesField(5, lk[:]))), ErrMalformed},
		{"micropayment without fields", frame([]byte{Version, byte(TypeMicropayment)}), ErrMalformed},
		{"micropayment amount too big", frame(cat([]byte{Version, byte(TypeMicropayment)}, bytesField(1, make([]byte, 20)),
			varintField(2, 1), bytesField(3, bytes.Repeat([]byte{1}, 33)))), ErrTooLarge},
		{"micropayment zero channel", frame(cat([]byte{Version, byte(TypeMicropayment)}, bytesField(1, bytes.Repeat([]byte{1}, 20)),
			bytesField(3, []byte{1}), bytesField(4, make([]byte, 65)))), ErrMalformed},
		{"micropayment long signature", frame(cat([]byte{Version, byte(TypeMicropayment)}, bytesField(1, bytes.Repeat([]byte{1}, 20)),
			varintField(2, 1), bytesField(3, []byte{1}), bytesField(4, make([]byte, 66)))), ErrTooLarge},
		{"micropayment channel overflow", frame(cat([]byte{Version, byte(TypeMicropayment)}, varintField(2, 1<<63))), ErrMalformed},
		{"ack amount too big", frame(cat([]byte{Version, byte(TypeMicropaymentAck)}, bytesField(3, bytes.Repeat([]byte{1}, 33)))), ErrTooLarge},
		{"too many segments", frame(cat([]byte{Version, byte(TypeChunkData)}, bytesField(1, root[:]),
			bytes.Repeat(bytesField(3, nil), MaxCount+1))), ErrTooLarge},
		{"segment map tag too big", frame(cat([]byte{Version, byte(TypeSegmentMap)}, bytesField(1, root[:]), varintField(3, 1),
			bytesField(5, lk[:]), bytesField(7, root[:]), bytesField(8, make([]byte, MaxTag+1)))), ErrTooLarge},
		{"segment map tag without locator", frame(cat([]byte{Version, byte(TypeSegmentMap)}, bytesField(1, root[:]), varintField(3, 1),
			bytesField(5, lk[:]), bytesField(8, []byte("t")))), ErrMalformed},
		{"segment map short locator", frame(cat([]byte{Version, byte(TypeSegmentMap)}, bytesField(7, root[:31]))), ErrMalformed},
		{"tag without locator", frame(cat([]byte{Version, byte(TypeTag)}, bytesField(1, root[:]), bytesField(3, []byte("t")))), ErrMalformed},
		{"tag too big", frame(cat([]byte{Version, byte(TypeTag)}, bytesField(1, root[:]), bytesField(2, root[:]),
			bytesField(3, make([]byte, MaxTag+1)))), ErrTooLarge},
		{"list without locator", frame(cat([]byte{Version, byte(TypeList)}, varintField(3, 1))), ErrMalformed},
		{"list limit zero", frame(cat([]byte{Version, byte(TypeList)}, bytesField(1, root[:]))), ErrMalformed},
		{"list limit too big", frame(cat([]byte{Version, byte(TypeList)}, bytesField(1, root[:]), varintField(3, MaxList+1))), ErrTooLarge},
		{"list short after", frame(cat([]byte{Version, byte(TypeList)}, bytesField(1, root[:]), bytesField(2, root[:5]), varintField(3, 1))), ErrMalformed},
		{"list reply entry without root", frame(cat([]byte{Version, byte(TypeListReply)}, bytesField(1, varintField(3, 1)))), ErrMalformed},
		{"list reply entry as varint", frame(cat([]byte{Version, byte(TypeListReply)}, varintField(1, 1))), ErrMalformed},
		{"list reply more not a bool", frame(cat([]byte{Version, byte(TypeListReply)}, varintField(2, 2))), ErrMalformed},
		{"list reply too many entries", frame(cat([]byte{Version, byte(TypeListReply)},
			bytes.Repeat(bytesField(1, cat(bytesField(1, root[:]), bytesField(2, []byte("k")), varintField(3, 1))), MaxList+1))), ErrTooLarge},
		{"list reply out of order", frame(cat([]byte{Version, byte(TypeListReply)},
			bytesField(1, cat(bytesField(1, root[:]), varintField(3, 1))), bytesField(1, cat(bytesField(1, root[:]), varintField(3, 1))))), ErrMalformed},
		{"list reply hash count mismatch", frame(cat([]byte{Version, byte(TypeListReply)},
			bytesField(1, cat(bytesField(1, root[:]), varintField(3, 10), varintField(4, 25), bytesField(6, make([]byte, 64)))))), ErrMalformed},
		{"list reply short signature", frame(cat([]byte{Version, byte(TypeListReply)},
			bytesField(1, cat(bytesField(1, root[:]), varintField(3, 1), bytesField(8, make([]byte, 20)), bytesField(11, make([]byte, 64)))))), ErrMalformed},
		{"list reply pledge without client", frame(cat([]byte{Version, byte(TypeListReply)},
			bytesField(1, cat(bytesField(1, root[:]), varintField(3, 1), bytesField(11, make([]byte, 65)))))), ErrMalformed},
		{"list reply tag too big", frame(cat([]byte{Version, byte(TypeListReply)},
			bytesField(1, cat(bytesField(1, root[:]), varintField(3, 1), bytesField(7, make([]byte, MaxTag+1)))))), ErrTooLarge},
		{"put root without fields", frame([]byte{Version, byte(TypePutRoot)}), ErrMalformed},
		{"put root short signature", frame(cat([]byte{Version, byte(TypePutRoot)}, bytesField(1, bytes.Repeat([]byte{1}, 20)),
			bytesField(2, root[:]), bytesField(5, make([]byte, 64)))), ErrMalformed},
		{"put root long signature", frame(cat([]byte{Version, byte(TypePutRoot)}, bytesField(1, bytes.Repeat([]byte{1}, 20)),
			bytesField(2, root[:]), bytesField(5, make([]byte, 66)))), ErrTooLarge},
		{"put root time overflow", frame(cat([]byte{Version, byte(TypePutRoot)}, varintField(4, 1<<63))), ErrMalformed},
		{"get root short owner", frame(cat([]byte{Version, byte(TypeGetRoot)}, bytesField(1, make([]byte, 19)))), ErrMalformed},
		{"get root zero owner", frame(cat([]byte{Version, byte(TypeGetRoot)}, bytesField(1, make([]byte, 20)))), ErrMalformed},
		{"root without root", frame(cat([]byte{Version, byte(TypeRoot)}, bytesField(1, bytes.Repeat([]byte{1}, 20)),
			bytesField(5, make([]byte, 65)))), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := ReadMsg(bufio.NewReader(bytes.NewReader(c.input)), 0)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, %v; want %v", m, err, c.want)
			}
			if !IsProtocolError(err) {
				t.Fatalf("%v is not a protocol error", err)
			}
			if !errors.Is(err, meta.ErrInvalid) && !errors.Is(err, meta.ErrTooLarge) {
				t.Fatalf("%v wraps neither meta.ErrInvalid nor meta.ErrTooLarge", err)
			}
		})
	}
}

func TestCustomMaxFrame(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMsg(&buf, &Data{Root: id(1), Bytes: make([]byte, 1000)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMsg(&buf, 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

// A peer that announces a big frame and sends little must not make us
// allocate the announced size.
func TestAnnouncedSizeNotAllocated(t *testing.T) {
	// allocated reads ten frames announcing MaxFrame and cut after sent
	// bytes, and returns what that allocated.
	allocated := func(sent int) uint64 {
		in := append(binary.AppendUvarint(nil, MaxFrame), make([]byte, sent)...)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 10 {
			if _, err := ReadMsg(bytes.NewReader(in), 0); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v", err)
			}
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	if got := allocated(100); got > 10*(readStep+4096) {
		t.Fatalf("10 truncated 4 MiB frames allocated %d bytes", got)
	}
	// Having sent a first step's worth, it makes us hold at most eight
	// times what it sent.
	if got := allocated(readStep + 100); got > 10*(9*readStep+4096) {
		t.Fatalf("10 4 MiB frames cut after %d bytes allocated %d bytes", readStep+100, got)
	}
}

func TestWriteRefusesBadMessages(t *testing.T) {
	bad := []Msg{
		&Data{Root: id(1), Bytes: make([]byte, MaxSegment+1)},
		&Data{Bytes: []byte("no root")},
		&Data{Root: id(1), Index: -1},
		&StoreRequest{SealedLen: 1},
		&StoreRequest{LinkID: link(1), SealedLen: -1},
		&StoreRequest{LinkID: link(1), Price: big.NewInt(-1)},
		&StoreRequest{LinkID: link(1), Price: new(big.Int).Lsh(big.NewInt(1), 256)},
		&SegmentMap{Root: id(1), LinkID: link(1), SegmentSize: 10, SealedLen: 11, Hashes: []meta.ID{id(1)}},
		&PledgeMsg{Root: id(1), Signature: []byte{1}},
		&Error{Message: strings.Repeat("x", MaxString+1)},
		&GetChunk{Root: id(1), Count: 0},
		&SegmentMap{Root: id(1), LinkID: link(1), SegmentSize: 1, Tag: []byte("no locator")},
		&Tag{Root: id(1), Locator: id(2), Tag: make([]byte, MaxTag+1)},
		&List{Locator: id(1), Limit: MaxList + 1},
		&ListReply{Entries: []ListEntry{{Root: id(2), Hash: "k", SegmentSize: 1}, {Root: id(1), Hash: "k", SegmentSize: 1}}},
		&ListReply{Entries: make([]ListEntry, MaxList+1)},
		&PutRoot{Record: RootRecord{Owner: common.Address{1}, Root: id(1), Signature: []byte{1}}},
		&RootMsg{Record: RootRecord{Root: id(1), Signature: make([]byte, SignatureLen)}},
		&GetRoot{},
		&ChunkData{Root: id(1), Segments: make([][]byte, 5000)}, // 5000 segments of 1 MiB would overflow
	}
	big := make([]byte, MaxSegment)
	for i := range bad[len(bad)-1].(*ChunkData).Segments {
		bad[len(bad)-1].(*ChunkData).Segments[i] = big
	}
	for _, m := range bad {
		var buf bytes.Buffer
		if err := WriteMsg(&buf, m); err == nil || !IsProtocolError(err) {
			t.Errorf("WriteMsg(%T) = %v, want a protocol error", m, err)
		}
		if buf.Len() != 0 {
			t.Errorf("WriteMsg(%T) wrote %d bytes of a bad message", m, buf.Len())
		}
	}
}

func TestErrorMessage(t *testing.T) {
	e := Errorf(CodeAlreadyStored, "root %s", strings.Repeat("é", 200))
	if len(e.Message) > MaxString {
		t.Fatalf("message of %d bytes", len(e.Message))
	}
	if !errors.Is(e, meta.ErrAlreadyStored) {
		t.Fatal("CodeAlreadyStored does not wrap meta.ErrAlreadyStored")
	}
	for code, want := range map[Code]error{CodeDeclined: meta.ErrDeclined, CodeNoSpace: meta.ErrNoSpace,
		CodeUnknownLink: meta.ErrNotFound, CodeTooLarge: meta.ErrTooLarge, CodeMalformed: meta.ErrInvalid} {
		if !errors.Is(&Error{Code: code}, want) {
			t.Errorf("%v does not wrap %v", code, want)
		}
	}
	if CodeOf(e) != CodeAlreadyStored || CodeOf(ErrVersion) != CodeUnsupportedVersion ||
		CodeOf(ErrTooLarge) != CodeTooLarge || CodeOf(io.EOF) != CodeInternal {
		t.Fatal("CodeOf maps wrongly")
	}
}

func TestMaxFrameFitsFullChunkData(t *testing.T) {
	// Four 1 MiB segments must fit one frame: that is what MaxFrame is for.
	seg := make([]byte, MaxSegment)
	var buf bytes.Buffer
	m := &ChunkData{Root: id(1), First: MaxCount - 4, Segments: [][]byte{seg, seg, seg, seg}}
	if err := WriteMsg(&buf, m); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMsg(&buf, 0); err != nil {
		t.Fatal(err)
	}
}

// A ListReply of entries with many hashes is refused before it is encoded
// when it would not fit a frame; Size lets a server stop in time.
func TestListReplyFitsFrame(t *testing.T) {
	hashes := make([]meta.ID, 8192)
	e := ListEntry{Root: id(1), Hash: "blake3", SegmentSize: 16384, SealedLen: 8192 * 16384, Hashes: hashes}
	var r ListReply
	total := 0
	for i := 0; total+e.Size() <= MaxFrame-16; i++ {
		e.Root[31] = byte(i)
		r.Entries = append(r.Entries, e)
		total += e.Size()
	}
	var buf bytes.Buffer
	if err := WriteMsg(&buf, &r); err != nil {
		t.Fatalf("%d entries of %d bytes: %v", len(r.Entries), e.Size(), err)
	}
	if got := buf.Len(); got < total || got > total+16 {
		t.Fatalf("frame of %d bytes, entries' Size sums to %d", got, total)
	}
	e.Root[31] = 255
	r.Entries = append(r.Entries, e)
	buf.Reset()
	if err := WriteMsg(&buf, &r); !errors.Is(err, ErrTooLarge) || buf.Len() != 0 {
		t.Fatalf("one entry more: %v, %d bytes written", err, buf.Len())
	}
}

// ReadMsgInto reads a frame that fits into the buffer given, aliasing it,
// and a larger one into a new buffer; a cut frame is malformed.
func TestReadMsgInto(t *testing.T) {
	var stream bytes.Buffer
	seg := bytes.Repeat([]byte{7}, 16<<10)
	big := bytes.Repeat([]byte{9}, 32<<10)
	for _, m := range []Msg{
		&Data{Root: meta.ID{1}, Index: 0, Bytes: seg},
		&Data{Root: meta.ID{1}, Index: 1, Bytes: seg},
		&Data{Root: meta.ID{1}, Index: 2, Bytes: big},
	} {
		if err := WriteMsg(&stream, m); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&stream)
	m, buf, err := ReadMsgInto(r, MaxFrame, nil)
	if err != nil || !bytes.Equal(m.(*Data).Bytes, seg) {
		t.Fatalf("first: %v", err)
	}
	m2, buf2, err := ReadMsgInto(r, MaxFrame, buf)
	if err != nil || m2.(*Data).Index != 1 || !bytes.Equal(m2.(*Data).Bytes, seg) {
		t.Fatalf("second: %+v, %v", m2, err)
	}
	if &buf2[0] != &buf[0] {
		t.Fatal("a frame that fits did not reuse the buffer")
	}
	m3, buf3, err := ReadMsgInto(r, MaxFrame, buf2)
	if err != nil || !bytes.Equal(m3.(*Data).Bytes, big) || cap(buf3) <= cap(buf2) {
		t.Fatalf("third: %v (buffer of %d, was %d)", err, cap(buf3), cap(buf2))
	}

	var cut bytes.Buffer
	if err := WriteMsg(&cut, &Data{Root: meta.ID{1}, Bytes: seg}); err != nil {
		t.Fatal(err)
	}
	b := cut.Bytes()[:cut.Len()-100]
	if _, _, err := ReadMsgInto(bufio.NewReader(bytes.NewReader(b)), MaxFrame, make([]byte, 0, 32<<10)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("cut frame: %v, want ErrMalformed", err)
	}
}

// WriteData writes what WriteMsg writes for the same Data, and reads back
// as it; it refuses what WriteMsg refuses.
func TestWriteDataIsWriteMsg(t *testing.T) {
	root := meta.ID{1, 2, 3}
	for _, d := range []*Data{
		{Root: root, Index: 0, Bytes: []byte{7}},
		{Root: root, Index: 1, Bytes: bytes.Repeat([]byte{0xab}, 16<<10)},
		{Root: root, Index: 300, Bytes: bytes.Repeat([]byte{1}, 1000)},
		{Root: root, Index: MaxCount - 1, Bytes: bytes.Repeat([]byte{2}, MaxSegment)},
		{Root: root, Index: 5}, // no bytes
	} {
		var want, got bytes.Buffer
		if err := WriteMsg(&want, d); err != nil {
			t.Fatal(err)
		}
		if err := WriteData(&got, d); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("index %d, %d bytes: WriteData wrote other bytes than WriteMsg", d.Index, len(d.Bytes))
		}
		m, err := ReadMsg(&got, MaxFrame)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := m.(*Data); !ok || r.Index != d.Index || !bytes.Equal(r.Bytes, d.Bytes) {
			t.Fatalf("read back %#v", m)
		}
	}
	for _, d := range []*Data{
		{Root: root, Index: -1, Bytes: []byte{1}},
		{Root: root, Index: 0, Bytes: make([]byte, MaxSegment+1)},
	} {
		if err := WriteData(io.Discard, d); err == nil {
			t.Errorf("WriteData of index %d, %d bytes: no error", d.Index, len(d.Bytes))
		}
	}
}
