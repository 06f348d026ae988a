package keccak

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
)

func random(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Every length around the block boundaries, and a chunk's, eight messages
// of one length at a time, gives go-ethereum's hashes.
func TestSum256AllMatchesGoEthereum(t *testing.T) {
	t.Logf("eight at a time: %v", wide)
	lengths := []int{0, 1, 7, 8, 135, 136, 137, 271, 272, 273, 1000, 16 << 10, 256 << 10, 256<<10 - 1}
	for n := 100; n < 300; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		msgs := make([][]byte, 8)
		for i := range msgs {
			msgs[i] = random(t, n)
		}
		out := make([]meta.ID, len(msgs))
		Sum256All(out, msgs)
		for i, m := range msgs {
			if want := meta.ID(crypto.Keccak256Hash(m)); out[i] != want {
				t.Fatalf("length %d, message %d: %x, want %x", n, i, out[i], want)
			}
		}
	}
}

// Mixed lengths, runs shorter than eight, messages sharing memory and
// messages that are slices of one buffer all hash as one at a time.
func TestSum256AllMixed(t *testing.T) {
	buf := random(t, 1<<20)
	var msgs [][]byte
	for i := range 19 {
		msgs = append(msgs, buf[i*1000:i*1000+5000]) // overlapping
	}
	msgs = append(msgs, buf[:3], buf[:0], nil, buf[7:7+136])
	for i := range 9 {
		msgs = append(msgs, random(t, 300+i%2))
	}
	out := make([]meta.ID, len(msgs))
	Sum256All(out, msgs)
	for i, m := range msgs {
		if want := meta.ID(crypto.Keccak256Hash(m)); out[i] != want {
			t.Fatalf("message %d (%d bytes): %x, want %x", i, len(m), out[i], want)
		}
	}
	if got, want := Sum256([]byte("abc")), meta.ID(crypto.Keccak256Hash([]byte("abc"))); got != want {
		t.Fatalf("Sum256: %x, want %x", got, want)
	}
}

func FuzzSum256All(f *testing.F) {
	f.Add([]byte("pointfs"), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		msgs := make([][]byte, 16)
		for i := range msgs {
			m := append([]byte(nil), b...)
			if len(m) > 0 {
				m[(i*int(cut))%len(m)] ^= byte(i)
			}
			msgs[i] = m
		}
		out := make([]meta.ID, len(msgs))
		Sum256All(out, msgs)
		for i, m := range msgs {
			if want := meta.ID(crypto.Keccak256Hash(m)); out[i] != want {
				t.Fatalf("message %d: %x, want %x", i, out[i], want)
			}
		}
	})
}

// BenchmarkChunks: eight 256 KiB chunks, eight at a time against one at a
// time (go-ethereum), in the same run.
func BenchmarkChunks(b *testing.B) {
	msgs := make([][]byte, 8)
	for i := range msgs {
		msgs[i] = random(b, 256<<10)
	}
	out := make([]meta.ID, 8)
	for _, mode := range []string{"eight", "one"} {
		b.Run(fmt.Sprintf("%s-at-a-time", mode), func(b *testing.B) {
			if mode == "eight" && !wide {
				b.Skip("no AVX-512")
			}
			b.SetBytes(8 * 256 << 10)
			for b.Loop() {
				if mode == "eight" {
					Sum256All(out, msgs)
				} else {
					for i, m := range msgs {
						out[i] = Sum256(m)
					}
				}
			}
		})
	}
}
