// Package keccak computes legacy Keccak-256 (DESIGN §2: go-ethereum's
// crypto.Keccak256) of many messages at once. On a CPU with AVX-512 it
// hashes eight messages of the same length in one pass, each in one
// 64-bit slot of the same vector registers, several times faster than one
// after the other: a chunk id is the Keccak-256 of 256 KiB, and hashing
// chunks was the biggest single cost of putting a file. Elsewhere it
// hashes one message at a time, with go-ethereum.
package keccak

import (
	"encoding/binary"
	"unsafe"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/pointfs/pointfs/meta"
)

const rate = 136 // bytes absorbed per permutation (1600 - 2·256 bits)

// Sum256 returns the Keccak-256 of b.
func Sum256(b []byte) meta.ID { return meta.ID(crypto.Keccak256Hash(b)) }

// Sum256All sets out[i] to the Keccak-256 of msgs[i]; out must be as long
// as msgs. Messages of the same length go eight at a time where the CPU
// can; the result is the same either way.
func Sum256All(out []meta.ID, msgs [][]byte) {
	if len(out) != len(msgs) {
		panic("keccak: Sum256All with out and msgs of different lengths")
	}
	done := 0
	if wide {
		// Runs of eight messages of one length (in practice: the full
		// chunks of a file, all but its last).
		for done+8 <= len(msgs) {
			n := len(msgs[done])
			same := true
			for _, m := range msgs[done+1 : done+8] {
				same = same && len(m) == n
			}
			if !same {
				break
			}
			sum8((*[8]meta.ID)(out[done:done+8]), (*[8][]byte)(msgs[done:done+8]))
			done += 8
		}
	}
	for i := done; i < len(msgs); i++ {
		out[i] = Sum256(msgs[i])
	}
}

// sum8 hashes eight messages of one length with absorb8.
func sum8(out *[8]meta.ID, msgs *[8][]byte) {
	n := len(msgs[0])
	var (
		st   [25][8]uint64
		ptrs [8]unsafe.Pointer // pointers, so that a stack move updates them
		last [8][rate]byte
	)
	full := n / rate
	if full > 0 {
		for k, m := range msgs {
			ptrs[k] = unsafe.Pointer(unsafe.SliceData(m))
		}
		absorb8(&st, &ptrs, full, &roundConstants)
	}
	// The last block of each, padded (legacy Keccak: 0x01 … 0x80).
	for k, m := range msgs {
		copy(last[k][:], m[full*rate:])
		last[k][n%rate] ^= 0x01
		last[k][rate-1] ^= 0x80
		ptrs[k] = unsafe.Pointer(&last[k])
	}
	absorb8(&st, &ptrs, 1, &roundConstants)
	for k := range out {
		for i := range 4 {
			binary.LittleEndian.PutUint64(out[k][8*i:], st[i][k])
		}
	}
}

// roundConstants are ι's constants, one per round.
var roundConstants = [24]uint64{
	0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
	0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
	0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
	0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
	0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
	0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
}
