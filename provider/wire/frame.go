package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pointfs/pointfs/meta/pb"
)

// headerRoom is what AppendFrame reserves in front of a payload: the longest
// uvarint length prefix plus the version and type bytes.
const headerRoom = binary.MaxVarintLen64 + 2

// readStep is the first allocation for a payload. A longer payload grows
// its buffer only as its bytes arrive, so a peer that announces 4 MiB and
// sends nothing costs 64 KiB, not 4 MiB.
const readStep = 64 << 10

// Encode returns the payload of m (version, type, body), without framing.
func Encode(m Msg) ([]byte, error) {
	b := []byte{Version, byte(m.Type())}
	return m.Marshal(b)
}

// Decode parses a payload (version, type, body) into its message. Byte
// slices of the message alias payload.
func Decode(payload []byte) (Msg, error) {
	if len(payload) < 2 {
		return nil, fmt.Errorf("%w: payload of %d bytes has no header", ErrMalformed, len(payload))
	}
	if payload[0] != Version {
		return nil, fmt.Errorf("%w: version %d, this peer speaks %d", ErrVersion, payload[0], Version)
	}
	m, err := New(Type(payload[1]))
	if err != nil {
		return nil, err
	}
	if err := m.Unmarshal(payload[2:]); err != nil {
		return nil, fmt.Errorf("%v: %w", m.Type(), err)
	}
	return m, nil
}

// AppendFrame appends the whole frame of m (length prefix and payload) to b.
func AppendFrame(b []byte, m Msg) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, headerRoom)...)
	b[start+headerRoom-2] = Version
	b[start+headerRoom-1] = byte(m.Type())
	b, err := m.Marshal(b)
	if err != nil {
		return b[:start], err
	}
	n := len(b) - start - binary.MaxVarintLen64
	if n > MaxFrame {
		return b[:start], fmt.Errorf("%w: %v frame of %d bytes, max %d", ErrTooLarge, m.Type(), n, MaxFrame)
	}
	// Put the prefix right in front of the payload and close the gap.
	var pre [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(pre[:], uint64(n))
	gap := binary.MaxVarintLen64 - k
	copy(b[start:], pre[:k])
	copy(b[start+k:], b[start+binary.MaxVarintLen64:])
	return b[:len(b)-gap], nil
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// WriteMsg writes m as one frame with a single Write, so that a message is
// never split across writes of concurrent writers of a *bufio.Writer or a
// stream. It refuses (with a codec error) a message that breaks a limit.
func WriteMsg(w io.Writer, m Msg) error {
	bp := framePool.Get().(*[]byte)
	b, err := AppendFrame((*bp)[:0], m)
	if err == nil {
		_, err = w.Write(b)
	}
	if cap(b) <= 1<<20 { // keep big one-off buffers out of the pool
		*bp = b[:0]
		framePool.Put(bp)
	}
	return err
}

// WriteData writes d as one frame, the same bytes as WriteMsg(w, d), with
// the segment written from d.Bytes itself rather than first copied into a
// frame buffer (a replica's segments are most of what a client sends). It
// takes two writes: w must have a single writer.
func WriteData(w io.Writer, d *Data) error {
	if len(d.Bytes) == 0 {
		return WriteMsg(w, d) // no segment field to write apart
	}
	if err := d.check(); err != nil {
		return err
	}
	// The longest length prefix, then the payload's head (at most 58
	// bytes: version, type, the root's field, the index's, and the
	// segment's tag and length) in place after it.
	var hb [headerRoom + 64]byte
	body := append(hb[headerRoom:headerRoom], Version, byte(TypeData))
	body = pb.AppendBytes(body, 1, d.Root[:])
	body = pb.AppendUint(body, 2, uint64(d.Index))
	body = protowire.AppendTag(body, 3, protowire.BytesType)
	body = protowire.AppendVarint(body, uint64(len(d.Bytes)))
	n := len(body) + len(d.Bytes)
	if n > MaxFrame {
		return fmt.Errorf("%w: %v frame of %d bytes, max %d", ErrTooLarge, TypeData, n, MaxFrame)
	}
	var pre [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(pre[:], uint64(n))
	start := headerRoom - k
	copy(hb[start:], pre[:k])
	if _, err := w.Write(hb[start : headerRoom+len(body)]); err != nil {
		return err
	}
	_, err := w.Write(d.Bytes)
	return err
}

// ReadMsg reads one frame from r and decodes it. Pass a *bufio.Reader (or
// any io.ByteReader) for speed: the length prefix is read a byte at a time.
// A frame longer than maxFrame (MaxFrame when maxFrame <= 0) is refused with
// ErrTooLarge before its payload is read or allocated; the stream is then
// out of step and should be closed.
//
// A clean end of stream before a frame returns io.EOF; an end inside a frame
// is ErrMalformed; other read errors (deadlines, resets) are returned as is.
func ReadMsg(r io.Reader, maxFrame int) (Msg, error) {
	m, _, err := ReadMsgInto(r, maxFrame, nil)
	return m, err
}

// ReadMsgInto is ReadMsg reading the payload into buf when it fits there
// (a message read so aliases buf: the caller must not reuse buf while it
// keeps the message or anything it holds). It returns the payload's
// buffer, buf or a new one, for the caller to pass again once it is done
// with the message: a provider reuses one buffer for the Data frames of a
// stream, some 49,000 of 16 KiB per 256 MiB stored at redundancy 3.
func ReadMsgInto(r io.Reader, maxFrame int, buf []byte) (Msg, []byte, error) {
	if maxFrame <= 0 {
		maxFrame = MaxFrame
	}
	br, ok := r.(io.ByteReader)
	if !ok {
		br = byteReader{r}
	}
	n, err := readLen(br, maxFrame)
	if err != nil {
		return nil, buf, err
	}
	var payload []byte
	if n > cap(buf) && n <= readStep {
		// Room for the next frames too, a few bytes longer (a higher
		// segment index takes more bytes).
		buf = make([]byte, 0, n+64)
	}
	if n <= cap(buf) {
		payload = buf[:n]
		if k, err := io.ReadFull(r, payload); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("%w: truncated frame (%d of %d bytes)", ErrMalformed, k, n)
			}
			return nil, buf, err
		}
	} else if payload, err = readPayload(r, n); err != nil {
		return nil, buf, err
	}
	m, err := Decode(payload)
	return m, payload, err
}

// readLen reads a uvarint length prefix and refuses one above max as soon
// as its bytes so far exceed it.
func readLen(br io.ByteReader, max int) (int, error) {
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c, err := br.ReadByte()
		if err == io.EOF && i > 0 {
			return 0, fmt.Errorf("%w: truncated length prefix", ErrMalformed)
		}
		if err != nil {
			return 0, err // io.EOF here is a clean end between frames
		}
		x |= uint64(c&0x7f) << (7 * i)
		if x > uint64(max) {
			return 0, fmt.Errorf("%w: frame longer than %d bytes", ErrTooLarge, max)
		}
		if c < 0x80 {
			if x < 2 {
				return 0, fmt.Errorf("%w: frame of %d bytes has no header", ErrMalformed, x)
			}
			return int(x), nil
		}
	}
	return 0, fmt.Errorf("%w: length prefix overflows", ErrTooLarge)
}

func readPayload(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, min(n, readStep))
	got := 0
	for {
		k, err := io.ReadFull(r, buf[got:])
		got += k
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated frame (%d of %d bytes)", ErrMalformed, got, n)
		}
		if err != nil {
			return nil, err
		}
		if got == n {
			return buf, nil
		}
		// Up to eight times what arrived: a reply carrying a chunk of
		// 256 KiB (a frame a little over that) then costs one more buffer
		// and one copy of 64 KiB, not three more buffers and copies of
		// 64, 128 and 256 KiB. A peer still has to send a byte for every
		// eight it makes us hold.
		next := make([]byte, min(n, 8*len(buf)))
		copy(next, buf)
		buf = next
	}
}

// byteReader reads single bytes from a plain io.Reader.
type byteReader struct{ r io.Reader }

func (b byteReader) ReadByte() (byte, error) {
	var p [1]byte
	_, err := io.ReadFull(b.r, p[:])
	return p[0], err
}
