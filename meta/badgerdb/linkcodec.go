package badgerdb

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb"
)

// Link records are written in a compact binary form: a version byte, then
// protobuf-style fields (google.golang.org/protobuf/encoding/protowire, so
// a field added later is skipped by an older reader). Every state of every
// link is persisted (DESIGN §1), and the tick and reconsider read a chunk's
// links again and again: as JSON, encoding and decoding link records was
// about a tenth of the daemon's CPU while uploading, and each record was
// twice the size (1.9 KB with its segment hashes in hex). Records written
// as JSON before are still read; the first write of a link rewrites it.
const linkCodecV1 = 0x01

// Field numbers of a link record. Never reuse one.
const (
	lfID = iota + 1
	lfChunk
	lfProvider
	lfAddress
	lfState
	lfError
	lfSegmentSize
	lfSegmentHash
	lfSealedLen
	lfRoot
	lfSegments
	lfKey
	lfProgress
	lfRetransmits
	lfRewinds
	lfExpires
	lfPrice
	lfRate
	lfPledge
	lfPayment
	lfCreated
	lfUpdated
	lfNextAudit
	lfLastAudit
	lfAuditsPassed
	lfRenewals
)

// encodeLink returns l's record.
func encodeLink(l *meta.Link) []byte {
	b := make([]byte, 1, 512+32*len(l.Segments))
	b[0] = linkCodecV1
	b = pb.AppendBytes(b, lfID, l.ID[:])
	b = pb.AppendBytes(b, lfChunk, l.Chunk[:])
	b = pb.AppendString(b, lfProvider, l.Provider)
	b = pb.AppendBytes(b, lfAddress, l.Address[:])
	b = pb.AppendUint(b, lfState, uint64(l.State))
	b = pb.AppendString(b, lfError, l.Error)
	b = appendInt(b, lfSegmentSize, int64(l.SegmentSize))
	b = pb.AppendString(b, lfSegmentHash, l.SegmentHash)
	b = appendInt(b, lfSealedLen, l.SealedLen)
	b = pb.AppendBytes(b, lfRoot, l.Root[:])
	if len(l.Segments) > 0 {
		b = protowire.AppendTag(b, lfSegments, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(32*len(l.Segments)))
		for _, s := range l.Segments {
			b = append(b, s[:]...)
		}
	}
	b = pb.AppendBytes(b, lfKey, l.Key)
	for _, p := range l.Progress {
		var m []byte
		m = appendInt(m, 1, p.SentAt)
		m = appendInt(m, 2, int64(p.Tries))
		m = pb.AppendBool(m, 3, p.Acked)
		b = appendMsg(b, lfProgress, m)
	}
	b = appendInt(b, lfRetransmits, int64(l.Retransmits))
	b = appendInt(b, lfRewinds, int64(l.Rewinds))
	b = appendTime(b, lfExpires, l.Expires)
	b = pb.AppendString(b, lfPrice, l.Price)
	b = pb.AppendString(b, lfRate, l.Rate)
	if p := l.Pledge; p != nil {
		var m []byte
		m = pb.AppendBytes(m, 1, p.Provider[:])
		m = pb.AppendBytes(m, 2, p.Client[:])
		m = pb.AppendBytes(m, 3, p.Root[:])
		m = appendInt(m, 4, p.Length)
		m = appendInt(m, 5, p.Expires)
		m = pb.AppendBytes(m, 6, p.Signature)
		b = appendMsg(b, lfPledge, m)
	}
	for _, p := range l.Payments {
		var m []byte
		m = pb.AppendUint(m, 1, p.Channel)
		m = pb.AppendString(m, 2, p.Amount)
		m = pb.AppendString(m, 3, p.Cumulative)
		m = pb.AppendBool(m, 4, p.Acked)
		m = pb.AppendString(m, 5, p.Error)
		b = appendMsg(b, lfPayment, m)
	}
	b = appendTime(b, lfCreated, l.Created)
	b = appendTime(b, lfUpdated, l.Updated)
	b = appendTime(b, lfNextAudit, l.NextAudit)
	if a := l.LastAudit; a != nil {
		var m []byte
		m = appendTime(m, 1, a.At)
		m = appendInt(m, 2, int64(a.Segment))
		m = pb.AppendBool(m, 3, a.OK)
		m = pb.AppendString(m, 4, a.Error)
		b = appendMsg(b, lfLastAudit, m)
	}
	b = appendInt(b, lfAuditsPassed, int64(l.AuditsPassed))
	b = appendInt(b, lfRenewals, int64(l.Renewals))
	return b
}

// decodeLink reads a record encodeLink wrote into l.
func decodeLink(b []byte, l *meta.Link) error {
	if len(b) == 0 || b[0] != linkCodecV1 {
		return fmt.Errorf("link record of version %d", firstByte(b))
	}
	*l = meta.Link{}
	return eachField(b[1:], func(num protowire.Number, f field) (err error) {
		switch num {
		case lfID:
			err = f.fixed(l.ID[:])
		case lfChunk:
			err = f.fixed(l.Chunk[:])
		case lfProvider:
			l.Provider, err = f.str()
		case lfAddress:
			err = f.fixed(l.Address[:])
		case lfState:
			var v uint64
			v, err = f.uint()
			if err == nil && v > uint64(meta.LinkFailed) {
				err = fmt.Errorf("link state %d", v)
			}
			l.State = meta.LinkState(v)
		case lfError:
			l.Error, err = f.str()
		case lfSegmentSize:
			l.SegmentSize, err = f.intVal()
		case lfSegmentHash:
			l.SegmentHash, err = f.str()
		case lfSealedLen:
			l.SealedLen, err = f.int()
		case lfRoot:
			err = f.fixed(l.Root[:])
		case lfSegments:
			var v []byte
			if v, err = f.bytes(); err == nil {
				if len(v)%32 != 0 {
					return fmt.Errorf("segment hashes of %d bytes", len(v))
				}
				l.Segments = make(meta.IDList, len(v)/32)
				for i := range l.Segments {
					copy(l.Segments[i][:], v[32*i:])
				}
			}
		case lfKey:
			var v []byte
			if v, err = f.bytes(); err == nil {
				l.Key = append([]byte(nil), v...)
			}
		case lfProgress:
			var p meta.SegmentProgress
			err = f.msg(func(num protowire.Number, f field) (err error) {
				switch num {
				case 1:
					p.SentAt, err = f.int()
				case 2:
					p.Tries, err = f.intVal()
				case 3:
					p.Acked, err = f.boolean()
				}
				return err
			})
			l.Progress = append(l.Progress, p)
		case lfRetransmits:
			l.Retransmits, err = f.intVal()
		case lfRewinds:
			l.Rewinds, err = f.intVal()
		case lfExpires:
			l.Expires, err = f.time()
		case lfPrice:
			l.Price, err = f.str()
		case lfRate:
			l.Rate, err = f.str()
		case lfPledge:
			p := &meta.Pledge{}
			err = f.msg(func(num protowire.Number, f field) (err error) {
				switch num {
				case 1:
					err = f.fixed(p.Provider[:])
				case 2:
					err = f.fixed(p.Client[:])
				case 3:
					err = f.fixed(p.Root[:])
				case 4:
					p.Length, err = f.int()
				case 5:
					p.Expires, err = f.int()
				case 6:
					var v []byte
					if v, err = f.bytes(); err == nil {
						p.Signature = append([]byte(nil), v...)
					}
				}
				return err
			})
			l.Pledge = p
		case lfPayment:
			var p meta.Payment
			err = f.msg(func(num protowire.Number, f field) (err error) {
				switch num {
				case 1:
					p.Channel, err = f.uint()
				case 2:
					p.Amount, err = f.str()
				case 3:
					p.Cumulative, err = f.str()
				case 4:
					p.Acked, err = f.boolean()
				case 5:
					p.Error, err = f.str()
				}
				return err
			})
			l.Payments = append(l.Payments, p)
		case lfCreated:
			l.Created, err = f.time()
		case lfUpdated:
			l.Updated, err = f.time()
		case lfNextAudit:
			l.NextAudit, err = f.time()
		case lfLastAudit:
			a := &meta.Audit{}
			err = f.msg(func(num protowire.Number, f field) (err error) {
				switch num {
				case 1:
					a.At, err = f.time()
				case 2:
					a.Segment, err = f.intVal()
				case 3:
					a.OK, err = f.boolean()
				case 4:
					a.Error, err = f.str()
				}
				return err
			})
			l.LastAudit = a
		case lfAuditsPassed:
			l.AuditsPassed, err = f.intVal()
		case lfRenewals:
			l.Renewals, err = f.intVal()
		}
		return err
	})
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// Writers (and pb's). Zero values are left out: a field read back absent
// is zero.

func appendInt(b []byte, num protowire.Number, v int64) []byte {
	return pb.AppendUint(b, num, protowire.EncodeZigZag(v))
}

func appendMsg(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// appendTime writes t as seconds and nanoseconds since 1970 (UTC); the
// zero time is left out.
func appendTime(b []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.VarintType)
	m = protowire.AppendVarint(m, protowire.EncodeZigZag(t.Unix()))
	m = pb.AppendUint(m, 2, uint64(t.Nanosecond()))
	return appendMsg(b, num, m)
}

// Readers.

// field is one field of a record (pb.Field), read as its number says.
type field pb.Field

// eachField calls fn for every varint and bytes field of b (pb.Each); fn
// ignores the numbers it does not know.
func eachField(b []byte, fn func(protowire.Number, field) error) error {
	return pb.Each(b, func(f pb.Field) error {
		if err := fn(f.Num, field(f)); err != nil {
			return fmt.Errorf("field %d: %w", f.Num, err)
		}
		return nil
	})
}

func (f field) want(t protowire.Type) error {
	if f.Type != t {
		return fmt.Errorf("wire type %d, want %d", f.Type, t)
	}
	return nil
}

func (f field) uint() (uint64, error) { return f.Varint, f.want(protowire.VarintType) }

func (f field) int() (int64, error) {
	return protowire.DecodeZigZag(f.Varint), f.want(protowire.VarintType)
}

func (f field) intVal() (int, error) {
	v, err := f.int()
	if err == nil && int64(int(v)) != v {
		err = fmt.Errorf("%d out of range", v)
	}
	return int(v), err
}

func (f field) boolean() (bool, error) { return f.Varint != 0, f.want(protowire.VarintType) }

func (f field) bytes() ([]byte, error) { return f.Bytes, f.want(protowire.BytesType) }

func (f field) str() (string, error) { return string(f.Bytes), f.want(protowire.BytesType) }

// fixed fills dst, which must be exactly as long as the field.
func (f field) fixed(dst []byte) error {
	if err := f.want(protowire.BytesType); err != nil {
		return err
	}
	if len(f.Bytes) != len(dst) {
		return fmt.Errorf("%d bytes, want %d", len(f.Bytes), len(dst))
	}
	copy(dst, f.Bytes)
	return nil
}

func (f field) msg(fn func(protowire.Number, field) error) error {
	if err := f.want(protowire.BytesType); err != nil {
		return err
	}
	return eachField(f.Bytes, fn)
}

func (f field) time() (time.Time, error) {
	var sec int64
	var nsec uint64
	err := f.msg(func(num protowire.Number, f field) (err error) {
		switch num {
		case 1:
			sec, err = f.int()
		case 2:
			nsec, err = f.uint()
		}
		return err
	})
	if err == nil && nsec >= 1e9 {
		err = fmt.Errorf("%d nanoseconds", nsec)
	}
	return time.Unix(sec, int64(nsec)).UTC(), err
}
