package wire

import (
	"fmt"
	"math/big"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb"
)

// --- StoreRequest (type 4) ---

// StoreRequest is STORE_CHUNK_REQUEST: it names a link by an opaque random
// id (never the chunk id) and asks the provider to reserve room for it.
type StoreRequest struct {
	LinkID    meta.LinkID
	SealedLen int64
	Expires   int64    // unix seconds
	Price     *big.Int // wei per byte per day; nil means 0
}

// Type implements Msg.
func (*StoreRequest) Type() Type { return TypeStoreRequest }

func (r *StoreRequest) check() error {
	if err := checkLink(r.LinkID); err != nil {
		return err
	}
	if err := checkNonNeg("sealed length", r.SealedLen); err != nil {
		return err
	}
	if err := checkNonNeg("expires", r.Expires); err != nil {
		return err
	}
	return checkBig("price", r.Price)
}

// Marshal implements Msg.
func (r *StoreRequest) Marshal(b []byte) ([]byte, error) {
	if err := r.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, r.LinkID[:])
	b = pb.AppendUint(b, 2, uint64(r.SealedLen))
	b = pb.AppendUint(b, 3, uint64(r.Expires))
	return putBig(b, 4, r.Price), nil
}

// Unmarshal implements Msg.
func (r *StoreRequest) Unmarshal(body []byte) error {
	*r = StoreRequest{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("link id", r.LinkID[:])
		case 2:
			r.SealedLen, err = f.int64Val("sealed length")
		case 3:
			r.Expires, err = f.int64Val("expires")
		case 4:
			r.Price, err = f.bigInt("price")
		}
		return err
	})
	if err != nil {
		return err
	}
	return r.check()
}

// --- SegmentMap (type 5) ---

// SegmentMap is STORE_CHUNK_SEGMENTS: the segment tree of a sealed replica.
// Its hash count must match SealedLen and SegmentSize (the last segment is
// shorter, not padded). A non-zero Locator files the replica under it with
// Tag (opaque to the provider), for a later List.
type SegmentMap struct {
	Root        meta.ID
	Hash        string // "keccak256" or "blake3"
	SegmentSize int
	SealedLen   int64
	LinkID      meta.LinkID
	Hashes      []meta.ID
	Locator     meta.ID // zero: none
	Tag         []byte  // at most MaxTag bytes; only with a Locator
}

// Type implements Msg.
func (*SegmentMap) Type() Type { return TypeSegmentMap }

// SegmentCount returns the number of segments of sealedLen bytes cut into
// segSize-byte segments.
func SegmentCount(sealedLen int64, segSize int) int64 {
	if segSize <= 0 || sealedLen <= 0 {
		return 0
	}
	return (sealedLen + int64(segSize) - 1) / int64(segSize)
}

func (m *SegmentMap) check() error {
	if err := checkRoot(m.Root); err != nil {
		return err
	}
	if err := checkLink(m.LinkID); err != nil {
		return err
	}
	if err := checkString("hash name", m.Hash); err != nil {
		return err
	}
	if err := checkLayout(m.SegmentSize, m.SealedLen, len(m.Hashes)); err != nil {
		return err
	}
	if err := checkTag(m.Tag); err != nil {
		return err
	}
	if m.Locator.IsZero() && len(m.Tag) > 0 {
		return fmt.Errorf("%w: a tag without a locator", ErrMalformed)
	}
	return nil
}

// Marshal implements Msg.
func (m *SegmentMap) Marshal(b []byte) ([]byte, error) {
	if err := m.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, m.Root[:])
	b = pb.AppendString(b, 2, m.Hash)
	b = pb.AppendUint(b, 3, uint64(m.SegmentSize))
	b = pb.AppendUint(b, 4, uint64(m.SealedLen))
	b = pb.AppendBytes(b, 5, m.LinkID[:])
	b = putHashes(b, 6, m.Hashes)
	if !m.Locator.IsZero() {
		b = pb.AppendBytes(b, 7, m.Locator[:])
	}
	return pb.AppendBytes(b, 8, m.Tag), nil
}

// Unmarshal implements Msg.
func (m *SegmentMap) Unmarshal(body []byte) error {
	*m = SegmentMap{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("root", m.Root[:])
		case 2:
			m.Hash, err = f.str("hash name")
		case 3:
			m.SegmentSize, err = f.intVal("segment size", MaxSegment)
		case 4:
			m.SealedLen, err = f.int64Val("sealed length")
		case 5:
			err = f.fixed("link id", m.LinkID[:])
		case 6:
			m.Hashes, err = f.hashes("hashes", MaxHashes)
		case 7:
			err = f.fixed("locator", m.Locator[:])
		case 8:
			m.Tag, err = f.bytesMax("tag", MaxTag)
		}
		return err
	})
	if err != nil {
		return err
	}
	return m.check()
}

// --- Data (type 6) ---

// Data is STORE_CHUNK_DATA: one segment of a sealed replica.
type Data struct {
	Root  meta.ID
	Index int
	Bytes []byte
}

// Type implements Msg.
func (*Data) Type() Type { return TypeData }

func (d *Data) check() error {
	if err := checkRoot(d.Root); err != nil {
		return err
	}
	if err := checkIndex("segment index", d.Index); err != nil {
		return err
	}
	if len(d.Bytes) > MaxSegment {
		return fmt.Errorf("%w: segment of %d bytes, max %d", ErrTooLarge, len(d.Bytes), MaxSegment)
	}
	return nil
}

// Marshal implements Msg.
func (d *Data) Marshal(b []byte) ([]byte, error) {
	if err := d.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, d.Root[:])
	b = pb.AppendUint(b, 2, uint64(d.Index))
	return pb.AppendBytes(b, 3, d.Bytes), nil
}

// Unmarshal implements Msg.
func (d *Data) Unmarshal(body []byte) error {
	*d = Data{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("root", d.Root[:])
		case 2:
			d.Index, err = f.intVal("segment index", MaxCount)
		case 3:
			d.Bytes, err = f.bytesMax("segment", MaxSegment)
		}
		return err
	})
	if err != nil {
		return err
	}
	return d.check()
}

// --- DataAck (type 7) ---

// DataAck answers one Data: CodeOK when the segment is stored, otherwise why
// not (CodeBadSegment when its hash or size is wrong).
type DataAck struct {
	Root  meta.ID
	Index int
	Code  Code
}

// Type implements Msg.
func (*DataAck) Type() Type { return TypeDataAck }

func (a *DataAck) check() error {
	if err := checkRoot(a.Root); err != nil {
		return err
	}
	return checkIndex("segment index", a.Index)
}

// Marshal implements Msg.
func (a *DataAck) Marshal(b []byte) ([]byte, error) {
	if err := a.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, a.Root[:])
	b = pb.AppendUint(b, 2, uint64(a.Index))
	return pb.AppendUint(b, 3, uint64(a.Code)), nil
}

// Unmarshal implements Msg.
func (a *DataAck) Unmarshal(body []byte) error {
	*a = DataAck{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("root", a.Root[:])
		case 2:
			a.Index, err = f.intVal("segment index", MaxCount)
		case 3:
			var c int
			c, err = f.intVal("code", 255)
			a.Code = Code(c)
		}
		return err
	})
	if err != nil {
		return err
	}
	return a.check()
}

// --- SignatureRequest (type 8) ---

// SignatureRequest is STORE_CHUNK_SIGNATURE_REQUEST.
type SignatureRequest struct {
	Root meta.ID
}

// Type implements Msg.
func (*SignatureRequest) Type() Type { return TypeSignatureRequest }

func (r *SignatureRequest) check() error { return checkRoot(r.Root) }

// Marshal implements Msg.
func (r *SignatureRequest) Marshal(b []byte) ([]byte, error) {
	if err := r.check(); err != nil {
		return b, err
	}
	return pb.AppendBytes(b, 1, r.Root[:]), nil
}

// Unmarshal implements Msg.
func (r *SignatureRequest) Unmarshal(body []byte) error {
	*r = SignatureRequest{}
	err := eachField(body, func(f field) error {
		if f.num == 1 {
			return f.fixed("root", r.Root[:])
		}
		return nil
	})
	if err != nil {
		return err
	}
	return r.check()
}

// --- PledgeMsg (type 9) ---

// PledgeMsg carries a signed pledge. The client and provider addresses are
// not on the wire: the provider signs for the stream's remote peer, and the
// client knows the provider from its peer id.
type PledgeMsg struct {
	Root      meta.ID
	Length    int64
	Expires   int64 // unix seconds
	Signature []byte
}

// Type implements Msg.
func (*PledgeMsg) Type() Type { return TypePledge }

func (p *PledgeMsg) check() error {
	if err := checkRoot(p.Root); err != nil {
		return err
	}
	if err := checkNonNeg("length", p.Length); err != nil {
		return err
	}
	if err := checkNonNeg("expires", p.Expires); err != nil {
		return err
	}
	if len(p.Signature) != SignatureLen {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(p.Signature), SignatureLen)
	}
	return nil
}

// Marshal implements Msg.
func (p *PledgeMsg) Marshal(b []byte) ([]byte, error) {
	if err := p.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, p.Root[:])
	b = pb.AppendUint(b, 2, uint64(p.Length))
	b = pb.AppendUint(b, 3, uint64(p.Expires))
	return pb.AppendBytes(b, 4, p.Signature), nil
}

// Unmarshal implements Msg.
func (p *PledgeMsg) Unmarshal(body []byte) error {
	*p = PledgeMsg{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("root", p.Root[:])
		case 2:
			p.Length, err = f.int64Val("length")
		case 3:
			p.Expires, err = f.int64Val("expires")
		case 4:
			p.Signature = make([]byte, SignatureLen)
			err = f.fixed("signature", p.Signature)
		}
		return err
	})
	if err != nil {
		return err
	}
	return p.check()
}
