package seal

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/pointfs/pointfs/meta"
)

func fromHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seqKey is the key 00 01 02 ... 1f.
func seqKey() (k [32]byte) {
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

var (
	chunkA   = mustParse("3ac225168df54212a25c1c01fd35bebfea408fdac2e31ddd6f80a4bbf9a5f1cb") // keccak256("a")
	provider = common.HexToAddress("0x00112233445566778899aabbccddeeff00112233")
	linkSeq  = meta.LinkID{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf}
)

func mustParse(s string) meta.ID {
	id, err := meta.ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// The expected key was computed independently with Python's hmac and
// hashlib (RFC 5869 written out by hand, checked against RFC 5869 test
// case 3): master 00..1f, chunk keccak256("a"), the provider address above,
// link id a0..af.
func TestLinkKeyVector(t *testing.T) {
	master := seqKey()
	got := LinkKey(master[:], chunkA, provider, linkSeq)
	const want = "f7f6d79c977fa9a651640bbc3b9464d62b2fc96c7006cdb1fdb2b7393b34e05a"
	if hex.EncodeToString(got[:]) != want {
		t.Fatalf("LinkKey = %x, want %s", got, want)
	}
}

func TestLinkKeyInputs(t *testing.T) {
	master := []byte("a client master secret of 32 by.")
	base := LinkKey(master, chunkA, provider, linkSeq)
	otherLink := linkSeq
	otherLink[15] ^= 1
	otherChunk := chunkA
	otherChunk[0] ^= 1
	otherProvider := provider
	otherProvider[19] ^= 1
	for what, k := range map[string][32]byte{
		"link":     LinkKey(master, chunkA, provider, otherLink),
		"chunk":    LinkKey(master, otherChunk, provider, linkSeq),
		"provider": LinkKey(master, chunkA, otherProvider, linkSeq),
		"master":   LinkKey([]byte("another master secret of 32 by.."), chunkA, provider, linkSeq),
	} {
		if k == base {
			t.Errorf("another %s gives the same key", what)
		}
	}
	if LinkKey(master, chunkA, provider, linkSeq) != base {
		t.Fatal("LinkKey is not deterministic")
	}
}

// Vectors from `openssl enc -aes-256-ctr -K 000102..1f -iv 00..00`.
const (
	katPlain   = "pointfs seals each replica under its own key."
	katSealed  = "82ff69d85e2fecf0da96fb06ae0e12e1933556dc2fc9f38cc597bb4426a6534f2ed5c1ad9543f4d328c3cc4c36"
	kat100Seal = "f29102b52e4c99d7a1fa9061d123798fe04c64bd5eac89f2beef812a54df28222e9d97fd9109a59a2081831e3401bfb6e27264601cb45618b8a789b8f9c263690e1ea4ff6eb7fe417b8a3bbe8d832701f95613b52d2410f208ef657d163d10bb890e5c69" // of bytes 0, 1, ..., 99
)

func TestSealVector(t *testing.T) {
	dst := make([]byte, len(katPlain))
	Seal(seqKey(), dst, []byte(katPlain))
	if got := hex.EncodeToString(dst); got != katSealed {
		t.Fatalf("Seal = %s, want %s", got, katSealed)
	}
	Seal(seqKey(), dst, dst) // in place: sealing again opens
	if string(dst) != katPlain {
		t.Fatalf("Seal twice = %q", dst)
	}
}

// TestOpenAtVector opens every range of the 100-byte openssl vector on its
// own, at every start offset (aligned and not) and several lengths.
func TestOpenAtVector(t *testing.T) {
	sealed := fromHex(t, kat100Seal)
	for off := 0; off < len(sealed); off++ {
		for _, n := range []int{0, 1, 15, 16, 17, 33, len(sealed) - off} {
			if off+n > len(sealed) {
				continue
			}
			dst := make([]byte, n)
			OpenAt(seqKey(), dst, sealed[off:off+n], int64(off))
			for i, c := range dst {
				if c != byte(off+i) {
					t.Fatalf("off %d len %d: byte %d = %d, want %d", off, n, i, c, byte(off+i))
				}
			}
		}
	}
}

func TestRoundTripAtOffsets(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	plain := make([]byte, meta.DefaultChunkSize+123)
	for i := range plain {
		plain[i] = byte(r.Uint32())
	}
	master := []byte("round trip master secret 32 byte")
	key := LinkKey(master, chunkA, provider, meta.NewLinkID())
	sealed := make([]byte, len(plain))
	Seal(key, sealed, plain)
	if bytes.Equal(sealed[:1024], plain[:1024]) {
		t.Fatal("Seal did not encrypt")
	}
	offsets := []int{0, 1, 15, 16, 17, 31, 32, 4095, 16384, 16385, meta.DefaultChunkSize - 1, meta.DefaultChunkSize}
	for range 200 {
		offsets = append(offsets, r.IntN(len(plain)))
	}
	for _, off := range offsets {
		n := min(len(plain)-off, 1+r.IntN(40000))
		dst := make([]byte, n)
		OpenAt(key, dst, sealed[off:off+n], int64(off))
		if !bytes.Equal(dst, plain[off:off+n]) {
			t.Fatalf("OpenAt(off %d, len %d) does not round-trip", off, n)
		}
	}
	// In place, and into a longer dst whose tail is left alone.
	buf := append([]byte(nil), sealed...)
	OpenAt(key, buf, buf, 0)
	if !bytes.Equal(buf, plain) {
		t.Fatal("in-place open does not round-trip")
	}
	long := bytes.Repeat([]byte{0xee}, 40)
	OpenAt(key, long, sealed[16:32], 16)
	if !bytes.Equal(long[:16], plain[16:32]) || long[16] != 0xee {
		t.Fatal("open into a longer dst")
	}
}

func TestLinksGiveDifferentReplicas(t *testing.T) {
	master := []byte("replicas master secret of 32 by.")
	plain := bytes.Repeat([]byte("same chunk "), 3000)
	a, b, c := make([]byte, len(plain)), make([]byte, len(plain)), make([]byte, len(plain))
	Seal(LinkKey(master, chunkA, provider, meta.NewLinkID()), a, plain)
	Seal(LinkKey(master, chunkA, provider, meta.NewLinkID()), b, plain)
	other := provider
	other[0] ^= 0xff
	Seal(LinkKey(master, chunkA, other, linkSeq), c, plain)
	if bytes.Equal(a, b) || bytes.Equal(a, c) || bytes.Equal(b, c) {
		t.Fatal("two links share a replica")
	}
	// No long run of equal bytes at equal offsets either.
	same := 0
	for i := range a {
		if a[i] == b[i] {
			same++
		}
	}
	if same > len(a)/64 {
		t.Fatalf("%d of %d bytes agree between replicas", same, len(a))
	}
}

func TestPanics(t *testing.T) {
	for what, f := range map[string]func(){
		"negative offset": func() { OpenAt(seqKey(), make([]byte, 4), make([]byte, 4), -1) },
		"short dst":       func() { Seal(seqKey(), make([]byte, 3), make([]byte, 4)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", what)
				}
			}()
			f()
		}()
	}
}

func BenchmarkSeal256KiB(b *testing.B) {
	buf := make([]byte, meta.DefaultChunkSize)
	key := seqKey()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		Seal(key, buf, buf)
	}
}

func BenchmarkLinkKey(b *testing.B) {
	master := seqKey()
	for b.Loop() {
		LinkKey(master[:], chunkA, provider, linkSeq)
	}
}
