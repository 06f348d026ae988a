package pb

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pointfs/pointfs/meta"
)

// Records: what the binary records of the metadata stores (the client's
// links, the provider's replicas) write and read on top of the above.
// Signed integers are zigzag varints; zero values are left out, so a field
// read back absent is zero.

// AppendInt appends field num with v (zigzag), unless v is 0.
func AppendInt(b []byte, num protowire.Number, v int64) []byte {
	return AppendUint(b, num, protowire.EncodeZigZag(v))
}

// AppendMsg appends field num with the encoded message m, even when m is
// empty (a message that is there with all its fields zero).
func AppendMsg(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// AppendTime appends field num with t as seconds and nanoseconds since
// 1970 (UTC); the zero time is left out.
func AppendTime(b []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.VarintType)
	m = protowire.AppendVarint(m, protowire.EncodeZigZag(t.Unix()))
	m = AppendUint(m, 2, uint64(t.Nanosecond()))
	return AppendMsg(b, num, m)
}

// Fields calls fn for every varint and bytes field of body (Each), with
// the field's number named in fn's errors; fn ignores the numbers it does
// not know.
func Fields(body []byte, fn func(protowire.Number, Field) error) error {
	return Each(body, func(f Field) error {
		if err := fn(f.Num, f); err != nil {
			return fmt.Errorf("field %d: %w", f.Num, err)
		}
		return nil
	})
}

func (f Field) want(t protowire.Type) error {
	if f.Type != t {
		return fmt.Errorf("wire type %d, want %d", f.Type, t)
	}
	return nil
}

// Uint reads a varint field.
func (f Field) Uint() (uint64, error) { return f.Varint, f.want(protowire.VarintType) }

// Int reads a zigzag varint field.
func (f Field) Int() (int64, error) {
	return protowire.DecodeZigZag(f.Varint), f.want(protowire.VarintType)
}

// IntVal reads a zigzag varint field that must fit an int.
func (f Field) IntVal() (int, error) {
	v, err := f.Int()
	if err == nil && int64(int(v)) != v {
		err = fmt.Errorf("%d out of range", v)
	}
	return int(v), err
}

// Bool reads a varint field as a bool.
func (f Field) Bool() (bool, error) { return f.Varint != 0, f.want(protowire.VarintType) }

// Raw reads a bytes field; the bytes alias the body.
func (f Field) Raw() ([]byte, error) { return f.Bytes, f.want(protowire.BytesType) }

// Str reads a bytes field as a string.
func (f Field) Str() (string, error) { return string(f.Bytes), f.want(protowire.BytesType) }

// Fixed fills dst, which must be exactly as long as the field.
func (f Field) Fixed(dst []byte) error {
	if err := f.want(protowire.BytesType); err != nil {
		return err
	}
	if len(f.Bytes) != len(dst) {
		return fmt.Errorf("%d bytes, want %d", len(f.Bytes), len(dst))
	}
	copy(dst, f.Bytes)
	return nil
}

// Msg calls fn for every field of the message in a bytes field (Fields).
func (f Field) Msg(fn func(protowire.Number, Field) error) error {
	if err := f.want(protowire.BytesType); err != nil {
		return err
	}
	return Fields(f.Bytes, fn)
}

// Time reads a field AppendTime wrote.
func (f Field) Time() (time.Time, error) {
	var sec int64
	var nsec uint64
	err := f.Msg(func(num protowire.Number, f Field) (err error) {
		switch num {
		case 1:
			sec, err = f.Int()
		case 2:
			nsec, err = f.Uint()
		}
		return err
	})
	if err == nil && nsec >= 1e9 {
		err = fmt.Errorf("%d nanoseconds", nsec)
	}
	return time.Unix(sec, int64(nsec)).UTC(), err
}

// AppendPledge appends field num with pledge p, unless p is nil.
func AppendPledge(b []byte, num protowire.Number, p *meta.Pledge) []byte {
	if p == nil {
		return b
	}
	var m []byte
	m = AppendBytes(m, 1, p.Provider[:])
	m = AppendBytes(m, 2, p.Client[:])
	m = AppendBytes(m, 3, p.Root[:])
	m = AppendInt(m, 4, p.Length)
	m = AppendInt(m, 5, p.Expires)
	m = AppendBytes(m, 6, p.Signature)
	return AppendMsg(b, num, m)
}

// Pledge reads a field AppendPledge wrote.
func (f Field) Pledge() (*meta.Pledge, error) {
	p := &meta.Pledge{}
	err := f.Msg(func(num protowire.Number, f Field) (err error) {
		switch num {
		case 1:
			err = f.Fixed(p.Provider[:])
		case 2:
			err = f.Fixed(p.Client[:])
		case 3:
			err = f.Fixed(p.Root[:])
		case 4:
			p.Length, err = f.Int()
		case 5:
			p.Expires, err = f.Int()
		case 6:
			var v []byte
			if v, err = f.Raw(); err == nil {
				p.Signature = append([]byte(nil), v...)
			}
		}
		return err
	})
	return p, err
}
