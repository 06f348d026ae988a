// Package seal makes the per-link sealed replicas of DESIGN §3: every
// storage link stores its own encryption of the chunk, under a key only the
// client can derive, so that each provider must keep its own replica, never
// sees plaintext, and can be audited on its own.
//
// The cipher is AES-256-CTR with an all-zero IV. A fixed IV is safe here only
// because a link key seals exactly one plaintext: the key is derived from the
// link id, a fresh random nonce per link, and a link's chunk never changes.
// Callers must never seal two different plaintexts under one key (for
// instance by reusing a LinkID). CTR gives no integrity; that comes from the
// link's segment tree (meta/merkle) and from checking the chunk id after
// opening.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/pointfs/pointfs/meta"
)

// linkKeyInfo starts the HKDF info of every link key; the version lets a
// future derivation coexist with this one.
const linkKeyInfo = "pointfs link key v1"

// LinkKey derives the sealing key of one link:
//
//	HKDF-SHA256(secret = master, salt = none,
//	            info = "pointfs link key v1" ‖ chunk (32 bytes) ‖ provider (20 bytes) ‖ link (16 bytes))
//
// Binding the chunk and the provider as well as the link nonce means a key
// can never be reused for another chunk or provider even if a link id
// repeats. master is the client's secret and should be at least 32 random
// bytes; it never leaves the client.
func LinkKey(master []byte, chunk meta.ID, provider common.Address, link meta.LinkID) [32]byte {
	info := make([]byte, 0, len(linkKeyInfo)+len(chunk)+len(provider)+len(link))
	info = append(info, linkKeyInfo...)
	info = append(info, chunk[:]...)
	info = append(info, provider[:]...)
	info = append(info, link[:]...)
	k, err := hkdf.Key(sha256.New, master, nil, string(info), 32)
	if err != nil {
		// Only a key length over 255 hash blocks (or FIPS-only mode refusing
		// a short secret) fails; 32 bytes never does otherwise.
		panic(fmt.Sprintf("seal: hkdf: %v", err))
	}
	return [32]byte(k)
}

// Seal encrypts plain into dst under key: the replica of one link. dst and
// plain may be the same slice (exact overlap only, no partial overlap);
// len(dst) must be at least len(plain), and only dst[:len(plain)] is written.
// Seal is its own inverse: Seal of a replica gives the plaintext back.
func Seal(key [32]byte, dst, plain []byte) {
	OpenAt(key, dst, plain, 0)
}

// OpenAt decrypts sealed, the bytes of a replica that start at byte offset
// off, into dst, without needing the bytes before it: it seeks the CTR key
// stream to block off/16 and skips off%16 bytes. It is also how a range is
// sealed. dst and sealed may be the same slice; len(dst) must be at least
// len(sealed). A negative off panics.
func OpenAt(key [32]byte, dst, sealed []byte, off int64) {
	NewOpener(key).OpenAt(dst, sealed, off)
}

// Opener is OpenAt for many ranges of one replica: the key is expanded
// once, not per range (a read opens a replica segment by segment as the
// segments arrive).
type Opener struct{ block cipher.Block }

// NewOpener returns the Opener of the replica sealed under key.
func NewOpener(key [32]byte) Opener {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	return Opener{block}
}

// OpenAt is the package's OpenAt under o's key.
func (o Opener) OpenAt(dst, sealed []byte, off int64) {
	if off < 0 {
		panic(fmt.Sprintf("seal: negative offset %d", off))
	}
	if len(dst) < len(sealed) {
		panic("seal: output smaller than input")
	}
	// The counter block is the big-endian 128-bit block number, as OpenSSL's
	// and Go's CTR count from an all-zero IV.
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[8:], uint64(off)/aes.BlockSize)
	stream := cipher.NewCTR(o.block, iv[:])
	if skip := off % aes.BlockSize; skip > 0 {
		var discard [aes.BlockSize]byte
		stream.XORKeyStream(discard[:skip], discard[:skip])
	}
	stream.XORKeyStream(dst[:len(sealed)], sealed)
}
