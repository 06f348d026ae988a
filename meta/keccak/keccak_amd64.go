//go:build amd64 && !purego

package keccak

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:generate sh -c "go run ./gen > keccak8_amd64.s"

// wide says absorb8 can run here: it needs AVX-512 (F), which x/sys/cpu
// reports only where the OS saves the registers too.
var wide = cpu.X86.HasAVX512F

// absorb8 absorbs blocks blocks of rate bytes from each of eight messages
// (ptrs[k] points at message k's next block) into eight states, lane i of
// state k in st[i][k], permuting after each block. In keccak8_amd64.s,
// written by ./gen.
//
//go:noescape
func absorb8(st *[25][8]uint64, ptrs *[8]unsafe.Pointer, blocks int, rc *[24]uint64)
