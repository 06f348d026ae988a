package provider

import (
	"encoding/json"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb"
)

// Replica records are written in a compact binary form, as the client's
// link records are (meta/badgerdb): a version byte, then protobuf-style
// fields (meta/pb), so a field added later is skipped by an older reader.
// A record is read at every step of a link and rewritten at its map, its
// completion and its pledge; as JSON, its decoding alone was about 6% of a
// provider's CPU while it took uploads. Records written as JSON before
// are still read (they begin with '{'); the next write rewrites them.
const recordCodecV1 = 0x01

// Field numbers of a replica record. Never reuse one.
const (
	rfLink = iota + 1
	rfClient
	rfHash
	rfSegSize
	rfSealedLen
	rfHashes
	rfExpires
	rfComplete
	rfPledge
	rfUpdated
	rfRate
	rfBilledUntil
	rfTag
	rfPack
	rfOff
)

// encodeRecord returns r's index value.
func encodeRecord(r *record) []byte {
	b := make([]byte, 1, 256+32*len(r.Hashes))
	b[0] = recordCodecV1
	b = pb.AppendBytes(b, rfLink, r.Link[:])
	b = pb.AppendBytes(b, rfClient, r.Client[:])
	b = pb.AppendString(b, rfHash, r.Hash)
	b = pb.AppendInt(b, rfSegSize, int64(r.SegSize))
	b = pb.AppendInt(b, rfSealedLen, r.SealedLen)
	if len(r.Hashes) > 0 {
		b = protowire.AppendTag(b, rfHashes, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(32*len(r.Hashes)))
		for _, h := range r.Hashes {
			b = append(b, h[:]...)
		}
	}
	b = pb.AppendInt(b, rfExpires, r.Expires)
	b = pb.AppendBool(b, rfComplete, r.Complete)
	b = pb.AppendPledge(b, rfPledge, r.Pledge)
	b = pb.AppendInt(b, rfUpdated, r.Updated)
	b = pb.AppendString(b, rfRate, r.Rate)
	b = pb.AppendInt(b, rfBilledUntil, r.BilledUntil)
	for _, t := range r.Tags {
		var m []byte
		m = pb.AppendBytes(m, 1, t.Locator[:])
		m = pb.AppendBytes(m, 2, t.Tag)
		b = pb.AppendMsg(b, rfTag, m)
	}
	b = pb.AppendUint(b, rfPack, uint64(r.Pack))
	b = pb.AppendInt(b, rfOff, r.Off)
	return b
}

// decodeRecord reads a record encodeRecord (or, before it, JSON) wrote
// into r. A record that does not parse wraps meta.ErrCorrupt.
func decodeRecord(b []byte, r *record) error {
	*r = record{}
	var err error
	switch {
	case len(b) > 0 && b[0] == '{':
		err = json.Unmarshal(b, r)
	case len(b) > 0 && b[0] == recordCodecV1:
		err = pb.Fields(b[1:], r.field)
	default:
		err = fmt.Errorf("unknown format (first of %d bytes)", len(b))
	}
	if err != nil {
		return fmt.Errorf("%w: replica record: %v", meta.ErrCorrupt, err)
	}
	return nil
}

func (r *record) field(num protowire.Number, f pb.Field) (err error) {
	switch num {
	case rfLink:
		err = f.Fixed(r.Link[:])
	case rfClient:
		err = f.Fixed(r.Client[:])
	case rfHash:
		r.Hash, err = f.Str()
	case rfSegSize:
		r.SegSize, err = f.IntVal()
	case rfSealedLen:
		r.SealedLen, err = f.Int()
	case rfHashes:
		var v []byte
		if v, err = f.Raw(); err == nil {
			if len(v)%32 != 0 {
				return fmt.Errorf("segment hashes of %d bytes", len(v))
			}
			r.Hashes = make(meta.IDList, len(v)/32)
			for i := range r.Hashes {
				copy(r.Hashes[i][:], v[32*i:])
			}
		}
	case rfExpires:
		r.Expires, err = f.Int()
	case rfComplete:
		r.Complete, err = f.Bool()
	case rfPledge:
		r.Pledge, err = f.Pledge()
	case rfUpdated:
		r.Updated, err = f.Int()
	case rfRate:
		r.Rate, err = f.Str()
	case rfBilledUntil:
		r.BilledUntil, err = f.Int()
	case rfTag:
		var t tagEntry
		err = f.Msg(func(num protowire.Number, f pb.Field) (err error) {
			switch num {
			case 1:
				err = f.Fixed(t.Locator[:])
			case 2:
				var v []byte
				if v, err = f.Raw(); err == nil {
					t.Tag = append([]byte(nil), v...)
				}
			}
			return err
		})
		r.Tags = append(r.Tags, t)
	case rfPack:
		var v uint64
		v, err = f.Uint()
		if err == nil && v > 1<<32-1 {
			err = fmt.Errorf("pack %d", v)
		}
		r.Pack = uint32(v)
	case rfOff:
		r.Off, err = f.Int()
	}
	return err
}

// getRecord reads root's record in txn; meta.ErrNotFound if there is none.
func getRecord(txn *badger.Txn, root meta.ID, r *record) error {
	item, err := txn.Get(recordKey(root))
	if err == badger.ErrKeyNotFound {
		return meta.ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error { return decodeRecord(b, r) })
}

// setRecord writes root's record in txn.
func setRecord(txn *badger.Txn, root meta.ID, r *record) error {
	return txn.Set(recordKey(root), encodeRecord(r))
}
