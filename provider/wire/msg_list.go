package wire

import (
	"bytes"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb"
)

// --- Tag (type 19) ---

// Tag files a complete replica under one more Locator with Tag (replacing
// the tag of a Locator it already carries). Only the client that stored
// the replica may tag it. The answer is Ok.
type Tag struct {
	Root    meta.ID
	Locator meta.ID
	Tag     []byte // at most MaxTag bytes
}

// Type implements Msg.
func (*Tag) Type() Type { return TypeTag }

func (t *Tag) check() error {
	if err := checkRoot(t.Root); err != nil {
		return err
	}
	if t.Locator.IsZero() {
		return fmt.Errorf("%w: missing locator", ErrMalformed)
	}
	return checkTag(t.Tag)
}

// Marshal implements Msg.
func (t *Tag) Marshal(b []byte) ([]byte, error) {
	if err := t.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, t.Root[:])
	b = pb.AppendBytes(b, 2, t.Locator[:])
	return pb.AppendBytes(b, 3, t.Tag), nil
}

// Unmarshal implements Msg.
func (t *Tag) Unmarshal(body []byte) error {
	*t = Tag{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("root", t.Root[:])
		case 2:
			err = f.fixed("locator", t.Locator[:])
		case 3:
			t.Tag, err = f.bytesMax("tag", MaxTag)
		}
		return err
	})
	if err != nil {
		return err
	}
	return t.check()
}

// --- List (type 20) ---

// List asks for the complete replicas filed under Locator, in root order
// from the first root after After (from the start when After is zero), at
// most Limit of them. Anyone may list: the locator is the secret.
type List struct {
	Locator meta.ID
	After   meta.ID
	Limit   int // 1..MaxList
}

// Type implements Msg.
func (*List) Type() Type { return TypeList }

func (l *List) check() error {
	if l.Locator.IsZero() {
		return fmt.Errorf("%w: missing locator", ErrMalformed)
	}
	if l.Limit < 1 || l.Limit > MaxList {
		return fmt.Errorf("%w: limit %d out of [1, %d]", ErrMalformed, l.Limit, MaxList)
	}
	return nil
}

// Marshal implements Msg.
func (l *List) Marshal(b []byte) ([]byte, error) {
	if err := l.check(); err != nil {
		return b, err
	}
	b = pb.AppendBytes(b, 1, l.Locator[:])
	if !l.After.IsZero() {
		b = pb.AppendBytes(b, 2, l.After[:])
	}
	return pb.AppendUint(b, 3, uint64(l.Limit)), nil
}

// Unmarshal implements Msg.
func (l *List) Unmarshal(body []byte) error {
	*l = List{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("locator", l.Locator[:])
		case 2:
			err = f.fixed("after", l.After[:])
		case 3:
			l.Limit, err = f.intVal("limit", MaxList)
		}
		return err
	})
	if err != nil {
		return err
	}
	return l.check()
}

// --- ListReply (type 21) ---

// ListEntry is one replica in a ListReply: its segment map, expiry, the tag
// it carries under the listed locator, and the pledge the provider signed
// for the client that stored it (none when Signature is empty). The pledge
// covers (Client, Root, PledgeLength, PledgeExpires).
type ListEntry struct {
	Root          meta.ID
	Hash          string
	SegmentSize   int
	SealedLen     int64
	Expires       int64 // unix seconds
	Hashes        []meta.ID
	Tag           []byte
	Client        common.Address
	PledgeLength  int64
	PledgeExpires int64  // unix seconds
	Signature     []byte // SignatureLen bytes, or empty
}

func (e *ListEntry) check() error {
	if err := checkRoot(e.Root); err != nil {
		return err
	}
	if err := checkString("hash name", e.Hash); err != nil {
		return err
	}
	if err := checkLayout(e.SegmentSize, e.SealedLen, len(e.Hashes)); err != nil {
		return err
	}
	if err := checkNonNeg("expires", e.Expires); err != nil {
		return err
	}
	if err := checkTag(e.Tag); err != nil {
		return err
	}
	if err := checkNonNeg("pledge length", e.PledgeLength); err != nil {
		return err
	}
	if err := checkNonNeg("pledge expires", e.PledgeExpires); err != nil {
		return err
	}
	switch {
	case len(e.Signature) == 0:
	case len(e.Signature) != SignatureLen:
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(e.Signature), SignatureLen)
	case e.Client == (common.Address{}):
		return fmt.Errorf("%w: a pledge without its client", ErrMalformed)
	}
	return nil
}

// size is the length of the entry's body.
func (e *ListEntry) size() int {
	n := sizeBytes(1, len(e.Root)) + sizeBytes(2, len(e.Hash)) +
		sizeUint(3, uint64(e.SegmentSize)) + sizeUint(4, uint64(e.SealedLen)) +
		sizeUint(5, uint64(e.Expires)) + sizeBytes(6, len(e.Hashes)*len(meta.ID{})) +
		sizeBytes(7, len(e.Tag)) + sizeUint(9, uint64(e.PledgeLength)) +
		sizeUint(10, uint64(e.PledgeExpires)) + sizeBytes(11, len(e.Signature))
	if e.Client != (common.Address{}) {
		n += sizeBytes(8, len(e.Client))
	}
	return n
}

// Size is how many bytes the entry adds to a ListReply, for a server that
// fills a reply up to what one frame carries.
func (e *ListEntry) Size() int { return protowire.SizeTag(1) + protowire.SizeBytes(e.size()) }

func (e *ListEntry) append(b []byte) []byte {
	b = pb.AppendBytes(b, 1, e.Root[:])
	b = pb.AppendString(b, 2, e.Hash)
	b = pb.AppendUint(b, 3, uint64(e.SegmentSize))
	b = pb.AppendUint(b, 4, uint64(e.SealedLen))
	b = pb.AppendUint(b, 5, uint64(e.Expires))
	b = putHashes(b, 6, e.Hashes)
	b = pb.AppendBytes(b, 7, e.Tag)
	if e.Client != (common.Address{}) {
		b = pb.AppendBytes(b, 8, e.Client[:])
	}
	b = pb.AppendUint(b, 9, uint64(e.PledgeLength))
	b = pb.AppendUint(b, 10, uint64(e.PledgeExpires))
	return pb.AppendBytes(b, 11, e.Signature)
}

func (e *ListEntry) unmarshal(body []byte) error {
	*e = ListEntry{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			err = f.fixed("root", e.Root[:])
		case 2:
			e.Hash, err = f.str("hash name")
		case 3:
			e.SegmentSize, err = f.intVal("segment size", MaxSegment)
		case 4:
			e.SealedLen, err = f.int64Val("sealed length")
		case 5:
			e.Expires, err = f.int64Val("expires")
		case 6:
			e.Hashes, err = f.hashes("hashes", MaxHashes)
		case 7:
			e.Tag, err = f.bytesMax("tag", MaxTag)
		case 8:
			err = f.fixed("pledge client", e.Client[:])
		case 9:
			e.PledgeLength, err = f.int64Val("pledge length")
		case 10:
			e.PledgeExpires, err = f.int64Val("pledge expires")
		case 11:
			e.Signature, err = f.bytesMax("signature", SignatureLen)
		}
		return err
	})
	if err != nil {
		return err
	}
	return e.check()
}

// ListReply answers List: entries in ascending root order, all after the
// List's After, at most its Limit, and no more than fit one frame. More
// says that entries may follow the last one: ask again from it.
type ListReply struct {
	Entries []ListEntry
	More    bool
}

// Type implements Msg.
func (*ListReply) Type() Type { return TypeListReply }

func (r *ListReply) check() error {
	if len(r.Entries) > MaxList {
		return fmt.Errorf("%w: %d entries, max %d", ErrTooLarge, len(r.Entries), MaxList)
	}
	total := 0
	for i := range r.Entries {
		e := &r.Entries[i]
		if err := e.check(); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if i > 0 && bytes.Compare(r.Entries[i-1].Root[:], e.Root[:]) >= 0 {
			return fmt.Errorf("%w: entry %d is not in ascending root order", ErrMalformed, i)
		}
		total += e.Size()
	}
	// Checked here, not only by the framer, so that an oversized answer is
	// refused before it is encoded.
	if total > MaxFrame {
		return fmt.Errorf("%w: %d bytes of entries, max frame %d", ErrTooLarge, total, MaxFrame)
	}
	return nil
}

// Marshal implements Msg.
func (r *ListReply) Marshal(b []byte) ([]byte, error) {
	if err := r.check(); err != nil {
		return b, err
	}
	for i := range r.Entries {
		e := &r.Entries[i]
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(e.size()))
		b = e.append(b)
	}
	return pb.AppendBool(b, 2, r.More), nil
}

// Unmarshal implements Msg.
func (r *ListReply) Unmarshal(body []byte) error {
	*r = ListReply{}
	err := eachField(body, func(f field) (err error) {
		switch f.num {
		case 1:
			// Bounded while parsing, like ChunkData's segments.
			if len(r.Entries) >= MaxList {
				return fmt.Errorf("%w: more than %d entries", ErrTooLarge, MaxList)
			}
			if err = f.wantBytes("entry"); err != nil {
				return err
			}
			var e ListEntry
			if err = e.unmarshal(f.b); err != nil {
				return fmt.Errorf("entry %d: %w", len(r.Entries), err)
			}
			r.Entries = append(r.Entries, e)
		case 2:
			r.More, err = f.boolVal("more")
		}
		return err
	})
	if err != nil {
		return err
	}
	return r.check()
}
