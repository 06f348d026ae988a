//go:build !amd64 || purego

package keccak

import "unsafe"

// wide is false: without absorb8, Sum256All hashes one message at a time.
var wide = false

func absorb8(*[25][8]uint64, *[8]unsafe.Pointer, int, *[24]uint64) {
	panic("keccak: absorb8 without AVX-512")
}
