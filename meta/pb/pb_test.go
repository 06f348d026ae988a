package pb

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestEach(t *testing.T) {
	var b []byte
	b = AppendUint(b, 1, 7)
	b = AppendUint(b, 2, 0) // left out
	b = protowire.AppendTag(b, 3, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 9) // skipped: not a varint or bytes
	b = AppendString(b, 4, "x")
	b = AppendBool(b, 5, true)
	b = AppendBytes(b, 6, nil) // left out
	var got []Field
	if err := Each(b, func(f Field) error { got = append(got, f); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Num != 1 || got[0].Varint != 7 || got[1].Num != 4 || string(got[1].Bytes) != "x" ||
		got[2].Num != 5 || got[2].Varint != 1 {
		t.Fatalf("fields %+v", got)
	}
	stop := errors.New("stop")
	if err := Each(b, func(Field) error { return stop }); err != stop {
		t.Fatalf("fn's error came back as %v", err)
	}
	for n := 1; n < len(b); n++ {
		err := Each(b[:n], func(Field) error { return nil })
		if n == 2 || n == 7 || n == 10 { // cuts between fields
			continue
		}
		if err == nil {
			t.Errorf("a body cut at %d of %d parsed", n, len(b))
		}
	}
}
