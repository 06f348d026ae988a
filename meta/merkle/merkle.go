// Package merkle holds the hashes of pointfs and the Merkle construction of
// the original Point node (core/merkle-utils.js), used for a file's chunk
// tree and for a storage link's segment tree.
//
// The construction: the leaves are 32-byte ids taken as given (not hashed
// again); the first level above them is H(0x00 ‖ L ‖ R) and every higher
// level H(L ‖ R); a node without a right sibling is paired with itself; a
// lone leaf is still hashed once, H(0x00 ‖ L ‖ L), so a root is never a leaf.
// The 0x00 prefix keeps a first-level node from being passed off as a leaf.
// A tree is returned flattened level by level, leaves first and the root
// last, which is the "merkle" array of a chunkinfo (DESIGN §2).
//
// The tree of zero leaves is not defined by the original node (its code
// yields an empty array and no root). pointfs defines it as the one-node tree
// whose root is H of nothing, e.g. Keccak256() =
// c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470, so that
// every tree has a root, Root(nil) is stable, and Tree(nil) = [Root(nil)].
// A proof exists only for trees of at least one leaf.
package merkle

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/zeebo/blake3"

	"github.com/pointfs/pointfs/meta"
)

// Names of the segment-tree hashes a link may record (meta.Link.SegmentHash).
const (
	HashKeccak256 = "keccak256"
	HashBlake3    = "blake3"
)

// Hasher hashes the concatenation of parts into an id. The hashers of this
// package (Keccak256, Blake3) do not keep parts and are safe for concurrent use.
type Hasher func(parts ...[]byte) meta.ID

// HasherFor returns the hasher a link's SegmentHash names. An unknown name,
// the empty one included, is an error wrapping meta.ErrInvalid: a tree must
// never be checked with a guessed hash.
func HasherFor(name string) (Hasher, error) {
	switch name {
	case HashKeccak256:
		return Keccak256, nil
	case HashBlake3:
		return Blake3, nil
	}
	return nil, fmt.Errorf("%w: unknown segment hash %q", meta.ErrInvalid, name)
}

// keccakState carries its own output buffer so that reading the digest out
// of the (interface-typed) state does not make a fresh 32 bytes escape to
// the heap on every call.
type keccakState struct {
	h   crypto.KeccakState
	out meta.ID
}

var keccakPool = sync.Pool{New: func() any { return &keccakState{h: crypto.NewKeccakState()} }}

// Keccak256 returns the legacy (Ethereum) Keccak-256 of the concatenation of
// parts, the same value as go-ethereum's crypto.Keccak256, without allocating.
func Keccak256(parts ...[]byte) meta.ID {
	s := keccakPool.Get().(*keccakState)
	s.h.Reset()
	for _, p := range parts {
		s.h.Write(p)
	}
	s.h.Read(s.out[:])
	id := s.out
	keccakPool.Put(s)
	return id
}

type blake3State struct {
	h   *blake3.Hasher
	out meta.ID
}

var blake3Pool = sync.Pool{New: func() any { return &blake3State{h: blake3.New()} }}

// Blake3 returns the 256-bit BLAKE3 hash of the concatenation of parts.
func Blake3(parts ...[]byte) meta.ID {
	if len(parts) == 1 {
		// The one-shot path needs no hasher state at all.
		return blake3.Sum256(parts[0])
	}
	s := blake3Pool.Get().(*blake3State)
	s.h.Reset()
	for _, p := range parts {
		s.h.Write(p)
	}
	s.h.Sum(s.out[:0])
	id := s.out
	blake3Pool.Put(s)
	return id
}

// SegmentHashes cuts data into segSize-byte segments, the last one shorter
// and not padded, and returns the hash of each under h: the leaves of a
// link's segment tree. Empty data has zero segments. segSize must be
// positive.
func SegmentHashes(h Hasher, data []byte, segSize int) []meta.ID {
	if segSize <= 0 {
		panic(fmt.Sprintf("merkle: segment size %d", segSize))
	}
	out := make([]meta.ID, 0, (len(data)+segSize-1)/segSize)
	// One parts slice for the whole loop: passing a fresh variadic slice to a
	// func value would allocate it on every segment.
	parts := make([][]byte, 1)
	for off := 0; off < len(data); off += segSize {
		parts[0] = data[off:min(off+segSize, len(data))]
		out = append(out, h(parts...))
	}
	return out
}

// levelSizes returns the number of nodes of each level of the tree over n
// leaves, leaves first, root last.
func levelSizes(n int) []int {
	if n == 0 {
		return []int{1}
	}
	sizes := make([]int, 0, bits.Len(uint(n))+1)
	sizes = append(sizes, n)
	for {
		n = (n + 1) / 2
		sizes = append(sizes, n)
		if n == 1 {
			return sizes
		}
	}
}

// Depth returns the length of a proof in a tree of n leaves: the number of
// hashings between a leaf and the root (1 for a single leaf). It is 0 for
// n <= 0, which has no proofs.
func Depth(n int) int {
	if n <= 0 {
		return 0
	}
	return len(levelSizes(n)) - 1
}

// Tree returns the whole keccak256 Merkle tree over leaves, flattened leaves
// first and root last, exactly as the original node's merkle-utils.js.
func Tree(leaves []meta.ID) []meta.ID { return TreeWith(Keccak256, leaves) }

// Root returns the root of Tree(leaves).
func Root(leaves []meta.ID) meta.ID { return RootWith(Keccak256, leaves) }

// Proof returns the sibling path of leaf i in the keccak256 tree over leaves.
func Proof(leaves []meta.ID, i int) ([]meta.ID, error) { return ProofWith(Keccak256, leaves, i) }

// Verify reports whether proof shows that leaf is leaf i of a keccak256 tree
// of n leaves whose root is root.
func Verify(root, leaf meta.ID, i, n int, proof []meta.ID) bool {
	return VerifyWith(Keccak256, root, leaf, i, n, proof)
}

// TreeWith returns the whole Merkle tree over leaves under h, flattened
// leaves first (a copy of leaves) and root last.
func TreeWith(h Hasher, leaves []meta.ID) []meta.ID {
	sizes := levelSizes(len(leaves))
	total := 0
	for _, s := range sizes {
		total += s
	}
	tree := make([]meta.ID, total)
	if len(leaves) == 0 {
		tree[0] = h()
		return tree
	}
	copy(tree, leaves)
	// buf holds 0x00 ‖ L ‖ R; above the first level only L ‖ R is hashed.
	// It and parts are allocated once per tree, not once per node.
	var buf [1 + 2*len(meta.ID{})]byte
	parts := make([][]byte, 1)
	level, next := 0, sizes[0]
	for k := 0; k+1 < len(sizes); k++ {
		n := sizes[k]
		in := buf[1:]
		if k == 0 {
			in = buf[:]
		}
		for j := 0; j < n; j += 2 {
			r := j + 1
			if r == n {
				r = j // the odd node is paired with itself
			}
			copy(buf[1:33], tree[level+j][:])
			copy(buf[33:], tree[level+r][:])
			parts[0] = in
			tree[next+j/2] = h(parts...)
		}
		level, next = next, next+sizes[k+1]
	}
	return tree
}

// RootWith returns the root of TreeWith(h, leaves).
func RootWith(h Hasher, leaves []meta.ID) meta.ID {
	t := TreeWith(h, leaves)
	return t[len(t)-1]
}

// ProofWith returns the sibling path of leaf i in the tree over leaves under
// h: one id per level below the root, nearest the leaf first. Where a node is
// paired with itself its sibling in the path is the node itself. An i out of
// range (and so any i of an empty tree) is an error wrapping meta.ErrInvalid.
func ProofWith(h Hasher, leaves []meta.ID, i int) ([]meta.ID, error) {
	if i < 0 || i >= len(leaves) {
		return nil, fmt.Errorf("%w: merkle proof of leaf %d of %d", meta.ErrInvalid, i, len(leaves))
	}
	tree := TreeWith(h, leaves)
	sizes := levelSizes(len(leaves))
	proof := make([]meta.ID, 0, len(sizes)-1)
	level := 0
	for k := 0; k+1 < len(sizes); k++ {
		sib := i ^ 1
		if sib >= sizes[k] {
			sib = i
		}
		proof = append(proof, tree[level+sib])
		level += sizes[k]
		i /= 2
	}
	return proof, nil
}

// VerifyWith reports whether proof (as ProofWith returns it) shows that leaf
// is leaf i of a tree of n leaves under h whose root is root. It is strict:
// the proof must have exactly Depth(n) ids, and where the tree pairs a node
// with itself the proof must say so.
func VerifyWith(h Hasher, root, leaf meta.ID, i, n int, proof []meta.ID) bool {
	if n <= 0 || i < 0 || i >= n || len(proof) != Depth(n) {
		return false
	}
	var buf [1 + 2*len(meta.ID{})]byte
	parts := make([][]byte, 1)
	cur := leaf
	for k, sib := range proof {
		if i^1 >= n && sib != cur {
			return false
		}
		l, r := cur, sib
		if i%2 == 1 {
			l, r = sib, cur
		}
		copy(buf[1:33], l[:])
		copy(buf[33:], r[:])
		parts[0] = buf[1:]
		if k == 0 {
			parts[0] = buf[:]
		}
		cur = h(parts...)
		i, n = i/2, (n+1)/2
	}
	return cur == root
}
