package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

// FuzzReadMsg feeds arbitrary bytes to ReadMsg: it must never panic, every
// error must be a protocol error or io.EOF, and whatever decodes must
// re-encode to a frame that decodes to the same message.
func FuzzReadMsg(f *testing.F) {
	for _, m := range samples() {
		var buf bytes.Buffer
		if err := WriteMsg(&buf, m); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Add(binary.AppendUvarint(nil, MaxFrame+1))
	f.Add(frame([]byte{2, byte(TypeOk)}))
	f.Add(frame([]byte{Version, byte(TypeChallenge)}))
	f.Add(frame([]byte{Version, byte(TypeMicropayment), 0x0a, 0x14}))
	f.Add(frame([]byte{Version, byte(TypeMicropaymentAck), 0x08, 0x01, 0x12, 0x01, 0x05}))
	f.Add(frame([]byte{Version, byte(TypeData), 0x0a, 0x20}))
	f.Add(frame([]byte{Version, byte(TypeListReply), 0x0a, 0x02, 0x0a, 0x20}))
	f.Add(frame([]byte{Version, byte(TypeList), 0x18, 0x01}))
	f.Add(frame([]byte{Version, byte(TypePutRoot), 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}))
	f.Add(frame([]byte{Version, byte(TypeTag), 0x1a, 0x01, 0x00}))

	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		for {
			m, err := ReadMsg(r, 64<<10)
			if err != nil {
				if err.Error() != "EOF" && !IsProtocolError(err) {
					t.Fatalf("error %v is neither io.EOF nor a protocol error", err)
				}
				return
			}
			var buf bytes.Buffer
			if err := WriteMsg(&buf, m); err != nil {
				t.Fatalf("decoded %+v does not re-encode: %v", m, err)
			}
			again, err := ReadMsg(&buf, 0)
			if err != nil {
				t.Fatalf("re-encoded %+v does not decode: %v", m, err)
			}
			if !reflect.DeepEqual(normalize(again), normalize(m)) {
				t.Fatalf("round trip changed %+v into %+v", m, again)
			}
		}
	})
}
