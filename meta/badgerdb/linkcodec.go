package badgerdb

import (
	"fmt"

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
	b = pb.AppendInt(b, lfSegmentSize, int64(l.SegmentSize))
	b = pb.AppendString(b, lfSegmentHash, l.SegmentHash)
	b = pb.AppendInt(b, lfSealedLen, l.SealedLen)
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
		m = pb.AppendInt(m, 1, p.SentAt)
		m = pb.AppendInt(m, 2, int64(p.Tries))
		m = pb.AppendBool(m, 3, p.Acked)
		b = pb.AppendMsg(b, lfProgress, m)
	}
	b = pb.AppendInt(b, lfRetransmits, int64(l.Retransmits))
	b = pb.AppendInt(b, lfRewinds, int64(l.Rewinds))
	b = pb.AppendTime(b, lfExpires, l.Expires)
	b = pb.AppendString(b, lfPrice, l.Price)
	b = pb.AppendString(b, lfRate, l.Rate)
	b = pb.AppendPledge(b, lfPledge, l.Pledge)
	for _, p := range l.Payments {
		var m []byte
		m = pb.AppendUint(m, 1, p.Channel)
		m = pb.AppendString(m, 2, p.Amount)
		m = pb.AppendString(m, 3, p.Cumulative)
		m = pb.AppendBool(m, 4, p.Acked)
		m = pb.AppendString(m, 5, p.Error)
		b = pb.AppendMsg(b, lfPayment, m)
	}
	b = pb.AppendTime(b, lfCreated, l.Created)
	b = pb.AppendTime(b, lfUpdated, l.Updated)
	b = pb.AppendTime(b, lfNextAudit, l.NextAudit)
	if a := l.LastAudit; a != nil {
		var m []byte
		m = pb.AppendTime(m, 1, a.At)
		m = pb.AppendInt(m, 2, int64(a.Segment))
		m = pb.AppendBool(m, 3, a.OK)
		m = pb.AppendString(m, 4, a.Error)
		b = pb.AppendMsg(b, lfLastAudit, m)
	}
	b = pb.AppendInt(b, lfAuditsPassed, int64(l.AuditsPassed))
	b = pb.AppendInt(b, lfRenewals, int64(l.Renewals))
	return b
}

// decodeLink reads a record encodeLink wrote into l.
func decodeLink(b []byte, l *meta.Link) error {
	if len(b) == 0 || b[0] != linkCodecV1 {
		return fmt.Errorf("link record of version %d", firstByte(b))
	}
	*l = meta.Link{}
	return pb.Fields(b[1:], func(num protowire.Number, f pb.Field) (err error) {
		switch num {
		case lfID:
			err = f.Fixed(l.ID[:])
		case lfChunk:
			err = f.Fixed(l.Chunk[:])
		case lfProvider:
			l.Provider, err = f.Str()
		case lfAddress:
			err = f.Fixed(l.Address[:])
		case lfState:
			var v uint64
			v, err = f.Uint()
			if err == nil && v > uint64(meta.LinkFailed) {
				err = fmt.Errorf("link state %d", v)
			}
			l.State = meta.LinkState(v)
		case lfError:
			l.Error, err = f.Str()
		case lfSegmentSize:
			l.SegmentSize, err = f.IntVal()
		case lfSegmentHash:
			l.SegmentHash, err = f.Str()
		case lfSealedLen:
			l.SealedLen, err = f.Int()
		case lfRoot:
			err = f.Fixed(l.Root[:])
		case lfSegments:
			var v []byte
			if v, err = f.Raw(); err == nil {
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
			if v, err = f.Raw(); err == nil {
				l.Key = append([]byte(nil), v...)
			}
		case lfProgress:
			var p meta.SegmentProgress
			err = f.Msg(func(num protowire.Number, f pb.Field) (err error) {
				switch num {
				case 1:
					p.SentAt, err = f.Int()
				case 2:
					p.Tries, err = f.IntVal()
				case 3:
					p.Acked, err = f.Bool()
				}
				return err
			})
			l.Progress = append(l.Progress, p)
		case lfRetransmits:
			l.Retransmits, err = f.IntVal()
		case lfRewinds:
			l.Rewinds, err = f.IntVal()
		case lfExpires:
			l.Expires, err = f.Time()
		case lfPrice:
			l.Price, err = f.Str()
		case lfRate:
			l.Rate, err = f.Str()
		case lfPledge:
			l.Pledge, err = f.Pledge()
		case lfPayment:
			var p meta.Payment
			err = f.Msg(func(num protowire.Number, f pb.Field) (err error) {
				switch num {
				case 1:
					p.Channel, err = f.Uint()
				case 2:
					p.Amount, err = f.Str()
				case 3:
					p.Cumulative, err = f.Str()
				case 4:
					p.Acked, err = f.Bool()
				case 5:
					p.Error, err = f.Str()
				}
				return err
			})
			l.Payments = append(l.Payments, p)
		case lfCreated:
			l.Created, err = f.Time()
		case lfUpdated:
			l.Updated, err = f.Time()
		case lfNextAudit:
			l.NextAudit, err = f.Time()
		case lfLastAudit:
			a := &meta.Audit{}
			err = f.Msg(func(num protowire.Number, f pb.Field) (err error) {
				switch num {
				case 1:
					a.At, err = f.Time()
				case 2:
					a.Segment, err = f.IntVal()
				case 3:
					a.OK, err = f.Bool()
				case 4:
					a.Error, err = f.Str()
				}
				return err
			})
			l.LastAudit = a
		case lfAuditsPassed:
			l.AuditsPassed, err = f.IntVal()
		case lfRenewals:
			l.Renewals, err = f.IntVal()
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
