package merkle

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
)

// The vectors below were computed by an independent implementation: a
// JavaScript rendition of merkle-utils.js on node v20 with the js-sha3
// package (keccak256). Leaf i is keccak256 of the one-letter ASCII string
// "a", "b", ... .
var treeVectors = map[int][]string{
	1: {
		"3ac225168df54212a25c1c01fd35bebfea408fdac2e31ddd6f80a4bbf9a5f1cb",
		"c5f5814fee224b6f669527b576b6789fc15af597ccaf86296367d46858118889",
	},
	2: {
		"3ac225168df54212a25c1c01fd35bebfea408fdac2e31ddd6f80a4bbf9a5f1cb",
		"b5553de315e0edf504d9150af82dafa5c4667fa618ed0a6f19c69b41166c5510",
		"78801ee38eb8f4befe8fd88b72944f8d3a8619559b857bff02b0e17cd31d65bd",
	},
	3: {
		"3ac225168df54212a25c1c01fd35bebfea408fdac2e31ddd6f80a4bbf9a5f1cb",
		"b5553de315e0edf504d9150af82dafa5c4667fa618ed0a6f19c69b41166c5510",
		"0b42b6393c1f53060fe3ddbfcd7aadcca894465a5a438f69c87d790b2299b9b2",
		"78801ee38eb8f4befe8fd88b72944f8d3a8619559b857bff02b0e17cd31d65bd",
		"a913a112496fd01321f84d4bca03e06b436ac5fd8691bf2c92a52225d168e946",
		"f2ed55ed585278982de28b42b610107674e5b5725269e4f8b11c413a71c8c211",
	},
	4: {
		"3ac225168df54212a25c1c01fd35bebfea408fdac2e31ddd6f80a4bbf9a5f1cb",
		"b5553de315e0edf504d9150af82dafa5c4667fa618ed0a6f19c69b41166c5510",
		"0b42b6393c1f53060fe3ddbfcd7aadcca894465a5a438f69c87d790b2299b9b2",
		"f1918e8562236eb17adc8502332f4c9c82bc14e19bfc0aa10ab674ff75b3d2f3",
		"78801ee38eb8f4befe8fd88b72944f8d3a8619559b857bff02b0e17cd31d65bd",
		"276d13613db13d2feca881ad072f07feb5c98baacffbff0a22ce39b3164ad254",
		"281078baa1b099fe116a91a39a91228fb4f6e02a62af41284e4a4a4112e4952f",
	},
	5: {
		"3ac225168df54212a25c1c01fd35bebfea408fdac2e31ddd6f80a4bbf9a5f1cb",
		"b5553de315e0edf504d9150af82dafa5c4667fa618ed0a6f19c69b41166c5510",
		"0b42b6393c1f53060fe3ddbfcd7aadcca894465a5a438f69c87d790b2299b9b2",
		"f1918e8562236eb17adc8502332f4c9c82bc14e19bfc0aa10ab674ff75b3d2f3",
		"a8982c89d80987fb9a510e25981ee9170206be21af3c8e0eb312ef1d3382e761",
		"78801ee38eb8f4befe8fd88b72944f8d3a8619559b857bff02b0e17cd31d65bd",
		"276d13613db13d2feca881ad072f07feb5c98baacffbff0a22ce39b3164ad254",
		"f97ef0be6df0dcfaa168b5db5b6d934d989cc2a96cd4adb2a95841e39a5de6dd",
		"281078baa1b099fe116a91a39a91228fb4f6e02a62af41284e4a4a4112e4952f",
		"04f71115c253fa23b0d67538d24cf86c98606285a22abdf076db3b936d784200",
		"ba20f212899aac75ecafe1119b1f7eb6d873b1d9e6ad02e4ee79daef21edb864",
	},
	7: {
		"3ac225168df54212a25c1c01fd35bebfea408fdac2e31ddd6f80a4bbf9a5f1cb",
		"b5553de315e0edf504d9150af82dafa5c4667fa618ed0a6f19c69b41166c5510",
		"0b42b6393c1f53060fe3ddbfcd7aadcca894465a5a438f69c87d790b2299b9b2",
		"f1918e8562236eb17adc8502332f4c9c82bc14e19bfc0aa10ab674ff75b3d2f3",
		"a8982c89d80987fb9a510e25981ee9170206be21af3c8e0eb312ef1d3382e761",
		"d1e8aeb79500496ef3dc2e57ba746a8315d048b7a664a2bf948db4fa91960483",
		"14bcc435f49d130d189737f9762feb25c44ef5b886bef833e31a702af6be4748",
		"78801ee38eb8f4befe8fd88b72944f8d3a8619559b857bff02b0e17cd31d65bd",
		"276d13613db13d2feca881ad072f07feb5c98baacffbff0a22ce39b3164ad254",
		"11ee97349633eb03312de32eee3d07c1f65b58eebc031185cb38092129579ca4",
		"ffd8b13fa4dc6d3172e88615b54da2690b5645951e73b97bd4f9f31de8863aaa",
		"281078baa1b099fe116a91a39a91228fb4f6e02a62af41284e4a4a4112e4952f",
		"0e36e19ea69ac45508d3a856668421814e86d4cd852acd4d203ce9fd03c472f8",
		"261f3c2d885e7bf58e6542e335bc3eb657a3b140ea55f7b65ee5d2244ddd7629",
	},
}

const (
	keccakEmpty = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
	// BLAKE3 of the empty input, from the BLAKE3 reference test vectors.
	blake3Empty = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
)

func mustID(t testing.TB, s string) meta.ID {
	t.Helper()
	id, err := meta.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// letterLeaves returns keccak256("a"), keccak256("b"), ... (n of them;
// past "z" it goes on with "a1", "b1", ..., which the vectors never reach).
func letterLeaves(n int) []meta.ID {
	leaves := make([]meta.ID, n)
	for i := range leaves {
		s := string(rune('a' + i%26))
		if i >= 26 {
			s += fmt.Sprint(i / 26)
		}
		leaves[i] = Keccak256([]byte(s))
	}
	return leaves
}

func TestKeccak256(t *testing.T) {
	if got := Keccak256().String(); got != keccakEmpty {
		t.Fatalf("Keccak256() = %s, want %s", got, keccakEmpty)
	}
	if got := Keccak256(nil, []byte{}).String(); got != keccakEmpty {
		t.Fatalf("Keccak256(nil, {}) = %s, want %s", got, keccakEmpty)
	}
	data := bytes.Repeat([]byte("pointfs"), 1000)
	for _, cut := range []int{0, 1, 135, 136, 137, 4000, len(data)} {
		got := Keccak256(data[:cut], data[cut:])
		if want := crypto.Keccak256(data); !bytes.Equal(got[:], want) {
			t.Fatalf("split at %d: %x, want %x", cut, got, want)
		}
	}
}

func TestBlake3(t *testing.T) {
	if got := Blake3().String(); got != blake3Empty {
		t.Fatalf("Blake3() = %s, want %s", got, blake3Empty)
	}
	if got := Blake3(nil).String(); got != blake3Empty {
		t.Fatalf("Blake3(nil) = %s, want %s", got, blake3Empty)
	}
	data := bytes.Repeat([]byte("pointfs"), 1000)
	whole := Blake3(data)
	for _, cut := range []int{0, 1, 1023, 1024, 1025, len(data)} {
		if got := Blake3(data[:cut], data[cut:]); got != whole {
			t.Fatalf("split at %d: %s, want %s", cut, got, whole)
		}
	}
	if whole == Keccak256(data) {
		t.Fatal("blake3 and keccak agree")
	}
}

func TestHasherFor(t *testing.T) {
	data := []byte("segment")
	for name, want := range map[string]meta.ID{HashKeccak256: Keccak256(data), HashBlake3: Blake3(data)} {
		h, err := HasherFor(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := h(data); got != want {
			t.Fatalf("%s: %s, want %s", name, got, want)
		}
	}
	for _, name := range []string{"", "sha256", "Keccak256", "BLAKE3"} {
		if _, err := HasherFor(name); !errors.Is(err, meta.ErrInvalid) {
			t.Fatalf("HasherFor(%q) = %v, want ErrInvalid", name, err)
		}
	}
}

func TestLetterLeaves(t *testing.T) {
	if got := letterLeaves(1)[0]; got != Keccak256([]byte("a")) {
		t.Fatal("leaf 0 is not keccak256(\"a\")")
	}
}

func TestTreeVectors(t *testing.T) {
	for n, want := range treeVectors {
		leaves := letterLeaves(n)
		tree := Tree(leaves)
		if len(tree) != len(want) {
			t.Fatalf("n=%d: %d nodes, want %d", n, len(tree), len(want))
		}
		for i := range want {
			if got := tree[i].String(); got != want[i] {
				t.Errorf("n=%d node %d: %s, want %s", n, i, got, want[i])
			}
		}
		if got := Root(leaves); got != tree[len(tree)-1] {
			t.Errorf("n=%d: Root %s is not the last node %s", n, got, tree[len(tree)-1])
		}
		// The same construction through TreeWith and the keccak hasher.
		h, _ := HasherFor(HashKeccak256)
		if got := RootWith(h, leaves).String(); got != want[len(want)-1] {
			t.Errorf("n=%d: RootWith keccak %s", n, got)
		}
	}
}

func TestTreeZeroLeaves(t *testing.T) {
	for _, leaves := range [][]meta.ID{nil, {}} {
		tree := Tree(leaves)
		if len(tree) != 1 || tree[0].String() != keccakEmpty {
			t.Fatalf("Tree(%v) = %v, want [%s]", leaves, tree, keccakEmpty)
		}
		if Root(leaves).String() != keccakEmpty {
			t.Fatal("Root of no leaves is not keccak256 of nothing")
		}
		if RootWith(Blake3, leaves).String() != blake3Empty {
			t.Fatal("blake3 root of no leaves is not blake3 of nothing")
		}
		if _, err := Proof(leaves, 0); !errors.Is(err, meta.ErrInvalid) {
			t.Fatalf("Proof of an empty tree: %v", err)
		}
		if Verify(Root(leaves), Root(leaves), 0, 0, nil) {
			t.Fatal("Verify accepted a proof in an empty tree")
		}
	}
}

// manualRoot is a second, recursive-by-level rendition of the construction
// for hashers that have no external vectors.
func manualRoot(h Hasher, level []meta.ID) meta.ID {
	first := true
	for {
		var next []meta.ID
		for j := 0; j < len(level); j += 2 {
			l, r := level[j], level[j]
			if j+1 < len(level) {
				r = level[j+1]
			}
			if first {
				next = append(next, h([]byte{0}, l[:], r[:]))
			} else {
				next = append(next, h(l[:], r[:]))
			}
		}
		first = false
		level = next
		if len(level) == 1 {
			return level[0]
		}
	}
}

func TestTreeWithBlake3(t *testing.T) {
	for n := 1; n <= 33; n++ {
		leaves := letterLeaves(n)
		if got, want := RootWith(Blake3, leaves), manualRoot(Blake3, leaves); got != want {
			t.Fatalf("n=%d: %s, want %s", n, got, want)
		}
		if got, want := Root(leaves), manualRoot(Keccak256, leaves); got != want {
			t.Fatalf("keccak n=%d: %s, want %s", n, got, want)
		}
	}
}

func TestTreeCopiesLeaves(t *testing.T) {
	leaves := letterLeaves(3)
	orig := append([]meta.ID(nil), leaves...)
	tree := Tree(leaves)
	tree[0][0] ^= 1
	if leaves[0] != orig[0] {
		t.Fatal("Tree aliases its input")
	}
}

func TestDepth(t *testing.T) {
	for n, want := range map[int]int{-1: 0, 0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 8: 3, 9: 4, 16: 4, 17: 5} {
		if got := Depth(n); got != want {
			t.Errorf("Depth(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestProofVerify(t *testing.T) {
	for _, hc := range []struct {
		name string
		h    Hasher
	}{{HashKeccak256, Keccak256}, {HashBlake3, Blake3}} {
		for n := 1; n <= 17; n++ {
			leaves := letterLeaves(n)
			root := RootWith(hc.h, leaves)
			for i := 0; i < n; i++ {
				proof, err := ProofWith(hc.h, leaves, i)
				if err != nil {
					t.Fatal(err)
				}
				if len(proof) != Depth(n) {
					t.Fatalf("%s n=%d i=%d: proof of %d, want %d", hc.name, n, i, len(proof), Depth(n))
				}
				if !VerifyWith(hc.h, root, leaves[i], i, n, proof) {
					t.Fatalf("%s n=%d i=%d: good proof rejected", hc.name, n, i)
				}
				checkBadProofs(t, hc.h, root, leaves, i, proof)
			}
			for _, i := range []int{-1, n} {
				if _, err := ProofWith(hc.h, leaves, i); !errors.Is(err, meta.ErrInvalid) {
					t.Fatalf("%s n=%d: Proof(%d) = %v, want ErrInvalid", hc.name, n, i, err)
				}
			}
		}
	}
	// The keccak wrappers agree with the general ones.
	leaves := letterLeaves(5)
	p, err := Proof(leaves, 4)
	if err != nil || !Verify(Root(leaves), leaves[4], 4, 5, p) {
		t.Fatalf("Proof/Verify: %v", err)
	}
}

func checkBadProofs(t *testing.T, h Hasher, root meta.ID, leaves []meta.ID, i int, proof []meta.ID) {
	t.Helper()
	n := len(leaves)
	reject := func(what string, root, leaf meta.ID, i, n int, proof []meta.ID) {
		t.Helper()
		if VerifyWith(h, root, leaf, i, n, proof) {
			t.Fatalf("n=%d i=%d: accepted %s", len(leaves), i, what)
		}
	}
	for k := range proof {
		bad := append([]meta.ID(nil), proof...)
		bad[k][31] ^= 0x80
		reject(fmt.Sprintf("a proof with node %d changed", k), root, leaves[i], i, n, bad)
	}
	bad := leaves[i]
	bad[0] ^= 1
	reject("a wrong leaf", root, bad, i, n, proof)
	badRoot := root
	badRoot[5] ^= 1
	reject("a wrong root", badRoot, leaves[i], i, n, proof)
	reject("a truncated proof", root, leaves[i], i, n, proof[:len(proof)-1])
	reject("a longer proof", root, leaves[i], i, n, append(append([]meta.ID(nil), proof...), root))
	reject("a negative index", root, leaves[i], -1, n, proof)
	reject("an index past the end", root, leaves[i], n, n, proof)
	if other := (i ^ 1) % n; other != i {
		reject("the wrong index", root, leaves[i], other, n, proof)
	}
	// A proof does not bind the leaf count where the path never meets an odd
	// pairing (leaf 0 of 6 or 7 leaves has the same path), but a count of
	// another depth must fail.
	reject("a leaf count of another depth", root, leaves[i], i, 2*n+1, proof)
	// The second-preimage guard: a first-level node is not a leaf.
	if n >= 2 {
		tree := TreeWith(h, leaves)
		p, err := ProofWith(h, tree[n:n+(n+1)/2], 0)
		if err == nil && VerifyWith(h, root, tree[n], 0, (n+1)/2, p) {
			t.Fatalf("n=%d: an inner node verified as a leaf", n)
		}
	}
}

func TestSegmentHashes(t *testing.T) {
	// From the JavaScript reference: "hello, pointfs segments" in 5-byte
	// segments, keccak256 each, and the root of their tree.
	want := []string{
		"1c8aff950685c2ed4bc3174f3472287b56d9517b9c948127319a09a7a36deac8",
		"3b7608de787bbf527a0f5b33ba9b8dab9c25460f9212ba1fcaa2716a4a7442ff",
		"6fa7795b32bd6c7ff2ec0d8dc8e8b1fb8cfa2330c77ce1544edd07139c60aac2",
		"98cf7139b0b17825e8f3ef39b80a8783a3b87a326fb33bd34214bfe96a7136a1",
		"241c315754f61a7b0d0948c7ffb875c8cf694d3a479bb754f38b05620b727b4b",
	}
	const wantRoot = "294bc82317661c5c92e37c57a60c87ee337e3bd393825142b7ffc7262ce934c3"
	segs := SegmentHashes(Keccak256, []byte("hello, pointfs segments"), 5)
	if len(segs) != len(want) {
		t.Fatalf("%d segments, want %d", len(segs), len(want))
	}
	for i := range want {
		if segs[i].String() != want[i] {
			t.Errorf("segment %d: %s, want %s", i, segs[i], want[i])
		}
	}
	if got := Root(segs).String(); got != wantRoot {
		t.Errorf("root %s, want %s", got, wantRoot)
	}

	if got := SegmentHashes(Blake3, nil, 16); len(got) != 0 {
		t.Fatalf("empty data: %d segments", len(got))
	}
	data := bytes.Repeat([]byte{7}, 64)
	got := SegmentHashes(Blake3, data, 16)
	if len(got) != 4 || got[3] != Blake3(data[48:]) {
		t.Fatalf("exact multiple: %v", got)
	}
	got = SegmentHashes(Blake3, data[:50], 16)
	if len(got) != 4 || got[3] != Blake3(data[48:50]) {
		t.Fatalf("short last segment: %v", got)
	}
}

func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	data := make([]byte, 256<<10)
	for _, h := range []Hasher{Keccak256, Blake3} {
		// Through a func value a fresh variadic slice would escape, so reuse
		// one, as SegmentHashes does.
		parts := [][]byte{data[:100]}
		if a := testing.AllocsPerRun(100, func() { h(parts...) }); a != 0 {
			t.Errorf("one-part hash: %v allocations", a)
		}
		// The result slice and the shared parts slice, not one per segment.
		if a := testing.AllocsPerRun(20, func() { SegmentHashes(h, data, 16<<10) }); a > 2 {
			t.Errorf("SegmentHashes: %v allocations", a)
		}
	}
	if a := testing.AllocsPerRun(100, func() { Keccak256(data[:10], data[10:20]) }); a != 0 {
		t.Errorf("two-part keccak: %v allocations", a)
	}
}

func benchmarkSegments(b *testing.B, h Hasher) {
	data := make([]byte, 256<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		SegmentHashes(h, data, 16<<10)
	}
}

func BenchmarkSegmentHashesKeccak256(b *testing.B) { benchmarkSegments(b, Keccak256) }
func BenchmarkSegmentHashesBlake3(b *testing.B)    { benchmarkSegments(b, Blake3) }

func BenchmarkTree40000(b *testing.B) {
	leaves := make([]meta.ID, 40000)
	for i := range leaves {
		leaves[i][0], leaves[i][1] = byte(i), byte(i>>8)
	}
	b.ReportAllocs()
	for b.Loop() {
		Tree(leaves)
	}
}
