// Package pb holds the few protobuf wire-format helpers (on protowire) that
// the provider protocol (provider/wire) and the binary link records
// (meta/badgerdb) share: fields written only when they are set, and a walk
// over the fields of a body.
package pb

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field is one varint or bytes field of a body. Bytes alias the body.
type Field struct {
	Num    protowire.Number
	Type   protowire.Type
	Varint uint64
	Bytes  []byte
}

// Each calls fn for each varint and bytes field of body, in order. Fields
// of other wire types are skipped (neither user has any), so fn never sees
// them; unknown field numbers are fn's to skip. An error of fn is returned
// as is; a body that does not parse is an error naming where.
func Each(body []byte, fn func(Field) error) error {
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			return fmt.Errorf("tag: %w", protowire.ParseError(n))
		}
		body = body[n:]
		f := Field{Num: num, Type: typ}
		switch typ {
		case protowire.VarintType:
			f.Varint, n = protowire.ConsumeVarint(body)
		case protowire.BytesType:
			f.Bytes, n = protowire.ConsumeBytes(body)
		default:
			n = protowire.ConsumeFieldValue(num, typ, body)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		body = body[n:]
		if typ != protowire.VarintType && typ != protowire.BytesType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// AppendUint appends field num with v, unless v is 0.
func AppendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// AppendBool appends field num when v is true.
func AppendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return AppendUint(b, num, 1)
}

// AppendBytes appends field num with v, unless v is empty.
func AppendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// AppendString appends field num with v, unless v is empty.
func AppendString(b []byte, num protowire.Number, v string) []byte {
	if v == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}
