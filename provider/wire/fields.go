package wire

import (
	"fmt"
	"math"
	"math/big"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb"
)

// field is one decoded field of a body. Bytes alias the body.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64 // varint value
	b   []byte // bytes value
}

// eachField walks body (pb.Each) and calls fn for each varint and bytes
// field; unknown field numbers are fn's to skip. A body that does not parse
// is ErrMalformed.
func eachField(body []byte, fn func(f field) error) error {
	var fnErr error
	err := pb.Each(body, func(f pb.Field) error {
		fnErr = fn(field{num: f.Num, typ: f.Type, u: f.Varint, b: f.Bytes})
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return err
}

func (f field) wantVarint(name string) error {
	if f.typ != protowire.VarintType {
		return fmt.Errorf("%w: %s has wire type %d, want varint", ErrMalformed, name, f.typ)
	}
	return nil
}

func (f field) wantBytes(name string) error {
	if f.typ != protowire.BytesType {
		return fmt.Errorf("%w: %s has wire type %d, want bytes", ErrMalformed, name, f.typ)
	}
	return nil
}

// int64Val decodes a non-negative integer that must fit an int64.
func (f field) int64Val(name string) (int64, error) {
	if err := f.wantVarint(name); err != nil {
		return 0, err
	}
	if f.u > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %s = %d overflows int64", ErrMalformed, name, f.u)
	}
	return int64(f.u), nil
}

// uint64Val decodes any unsigned 64-bit integer.
func (f field) uint64Val(name string) (uint64, error) {
	if err := f.wantVarint(name); err != nil {
		return 0, err
	}
	return f.u, nil
}

// boolVal decodes a bool (0 or 1).
func (f field) boolVal(name string) (bool, error) {
	if err := f.wantVarint(name); err != nil {
		return false, err
	}
	if f.u > 1 {
		return false, fmt.Errorf("%w: %s = %d is not a bool", ErrMalformed, name, f.u)
	}
	return f.u == 1, nil
}

// hashes decodes concatenated 32-byte hashes, at most max of them.
func (f field) hashes(name string, max int) ([]meta.ID, error) {
	raw, err := f.bytesMax(name, max*len(meta.ID{}))
	if err != nil {
		return nil, err
	}
	if len(raw)%len(meta.ID{}) != 0 {
		return nil, fmt.Errorf("%w: %s is %d bytes, not a multiple of 32", ErrMalformed, name, len(raw))
	}
	out := make([]meta.ID, len(raw)/len(meta.ID{}))
	for i := range out {
		copy(out[i][:], raw[i*len(meta.ID{}):])
	}
	return out, nil
}

// intVal decodes a small non-negative integer at most max.
func (f field) intVal(name string, max int) (int, error) {
	v, err := f.int64Val(name)
	if err != nil {
		return 0, err
	}
	if v > int64(max) {
		return 0, fmt.Errorf("%w: %s = %d exceeds %d", ErrTooLarge, name, v, max)
	}
	return int(v), nil
}

// fixed copies an exactly-n-byte field into dst.
func (f field) fixed(name string, dst []byte) error {
	if err := f.wantBytes(name); err != nil {
		return err
	}
	if len(f.b) != len(dst) {
		return fmt.Errorf("%w: %s is %d bytes, want %d", ErrMalformed, name, len(f.b), len(dst))
	}
	copy(dst, f.b)
	return nil
}

// bytesMax returns a bytes field of at most max bytes (aliasing the body).
func (f field) bytesMax(name string, max int) ([]byte, error) {
	if err := f.wantBytes(name); err != nil {
		return nil, err
	}
	if len(f.b) > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, max %d", ErrTooLarge, name, len(f.b), max)
	}
	return f.b, nil
}

func (f field) str(name string) (string, error) {
	b, err := f.bytesMax(name, MaxString)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: %s is not UTF-8", ErrMalformed, name)
	}
	return string(b), nil
}

func (f field) bigInt(name string) (*big.Int, error) {
	b, err := f.bytesMax(name, MaxPriceBytes)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(b), nil
}

// Encoding helpers. Zero values are omitted, as proto3 does.

// putHashes appends hashes as one bytes field of concatenated hashes.
func putHashes(b []byte, num protowire.Number, hashes []meta.ID) []byte {
	if len(hashes) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(hashes)*len(meta.ID{})))
	for i := range hashes {
		b = append(b, hashes[i][:]...)
	}
	return b
}

// Sizes of fields as the put helpers encode them (0 for an omitted one).

func sizeUint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeBytes(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func putBig(b []byte, num protowire.Number, v *big.Int) []byte {
	if v == nil || v.Sign() == 0 {
		return b
	}
	return pb.AppendBytes(b, num, v.Bytes())
}

// checks shared by encode and decode.

func checkNonNeg(name string, v int64) error {
	if v < 0 {
		return fmt.Errorf("%w: %s = %d is negative", ErrMalformed, name, v)
	}
	return nil
}

func checkBig(name string, v *big.Int) error {
	if v == nil {
		return nil
	}
	if v.Sign() < 0 {
		return fmt.Errorf("%w: %s is negative", ErrMalformed, name)
	}
	if (v.BitLen()+7)/8 > MaxPriceBytes {
		return fmt.Errorf("%w: %s exceeds %d bytes", ErrTooLarge, name, MaxPriceBytes)
	}
	return nil
}

func checkString(name, v string) error {
	if len(v) > MaxString {
		return fmt.Errorf("%w: %s is %d bytes, max %d", ErrTooLarge, name, len(v), MaxString)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrMalformed, name)
	}
	return nil
}

func checkTag(tag []byte) error {
	if len(tag) > MaxTag {
		return fmt.Errorf("%w: tag is %d bytes, max %d", ErrTooLarge, len(tag), MaxTag)
	}
	return nil
}

// checkLayout checks that hashes is the segment count of sealedLen bytes in
// segSize-byte segments.
func checkLayout(segSize int, sealedLen int64, hashes int) error {
	if segSize < 1 || segSize > MaxSegment {
		return fmt.Errorf("%w: segment size %d out of [1, %d]", ErrMalformed, segSize, MaxSegment)
	}
	if err := checkNonNeg("sealed length", sealedLen); err != nil {
		return err
	}
	if hashes > MaxHashes {
		return fmt.Errorf("%w: %d segment hashes, max %d", ErrTooLarge, hashes, MaxHashes)
	}
	if n := SegmentCount(sealedLen, segSize); n != int64(hashes) {
		return fmt.Errorf("%w: %d hashes for %d bytes in %d-byte segments (want %d)",
			ErrMalformed, hashes, sealedLen, segSize, n)
	}
	return nil
}

func checkIndex(name string, v int) error {
	if v < 0 || v > MaxCount {
		return fmt.Errorf("%w: %s = %d out of [0, %d]", ErrMalformed, name, v, MaxCount)
	}
	return nil
}
