package upload

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/merkle"
)

// Tags let the network hold what is needed to find a replica again without
// learning what it is. With every segment map the engine sends a tag: the
// chunk id and link id sealed (AES-256-GCM) under a key only the owner can
// derive, filed by the provider under a locator, a 32-byte value derived
// from the same secret. A client that lost everything but its key lists
// its locator at every provider and opens the tags (RecoverLinks). A share
// is a second tag on each replica of a tree, under a locator and key
// derived from the share's own secret; its tags carry the link key too,
// since a reader cannot derive it (Share, RecoverShare).
//
// The tag's additional data is the replica's root and the provider's
// address: a provider cannot pass off another replica, or another
// provider's tag, as one of ours.

// tagSecrets is a locator and the key of the tags filed under it.
type tagSecrets struct {
	locator meta.ID
	key     [32]byte
}

func deriveTagSecrets(label string, secret []byte) tagSecrets {
	return tagSecrets{
		locator: merkle.Keccak256([]byte("pointfs "+label+" locator v1"), secret),
		key:     merkle.Keccak256([]byte("pointfs "+label+" tag key v1"), secret),
	}
}

// ownerSecrets derives the owner's locator and tag key from the master.
func ownerSecrets(master []byte) tagSecrets { return deriveTagSecrets("owner", master) }

// shareSecrets derives a share's locator and tag key from its secret.
func shareSecrets(secret [32]byte) tagSecrets { return deriveTagSecrets("share", secret[:]) }

// tagBody is what a tag seals. Key is set in share tags only.
type tagBody struct {
	Chunk meta.ID
	Link  meta.LinkID
	Key   *[32]byte
}

const (
	tagVersion  = 1
	tagNonceLen = 12
)

var errBadTag = errors.New("tag does not open")

func tagAEAD(key [32]byte) cipher.AEAD {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic(fmt.Sprintf("upload: aes: %v", err)) // 32-byte keys never fail
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(fmt.Sprintf("upload: gcm: %v", err))
	}
	return g
}

func tagAD(root meta.ID, provider common.Address) []byte {
	ad := make([]byte, 0, len(root)+len(provider))
	ad = append(ad, root[:]...)
	return append(ad, provider[:]...)
}

// sealTag seals b for the replica root at provider:
// version ‖ nonce ‖ GCM(chunk ‖ link [‖ key]).
func sealTag(s tagSecrets, root meta.ID, provider common.Address, b tagBody) []byte {
	plain := make([]byte, 0, 32+16+32)
	plain = append(plain, b.Chunk[:]...)
	plain = append(plain, b.Link[:]...)
	if b.Key != nil {
		plain = append(plain, b.Key[:]...)
	}
	out := make([]byte, 1+tagNonceLen, 1+tagNonceLen+len(plain)+16)
	out[0] = tagVersion
	if _, err := rand.Read(out[1:]); err != nil {
		panic(fmt.Sprintf("upload: random nonce: %v", err))
	}
	return tagAEAD(s.key).Seal(out, out[1:1+tagNonceLen], plain, tagAD(root, provider))
}

// openTag opens a tag sealTag made for root at provider; any other tag, or
// one changed on the way, is errBadTag.
func openTag(s tagSecrets, root meta.ID, provider common.Address, tag []byte) (tagBody, error) {
	var b tagBody
	if len(tag) < 1+tagNonceLen+16 || tag[0] != tagVersion {
		return b, errBadTag
	}
	plain, err := tagAEAD(s.key).Open(nil, tag[1:1+tagNonceLen], tag[1+tagNonceLen:], tagAD(root, provider))
	if err != nil {
		return b, errBadTag
	}
	switch len(plain) {
	case 32 + 16:
	case 32 + 16 + 32:
		b.Key = (*[32]byte)(plain[48:80])
	default:
		return b, errBadTag
	}
	b.Chunk = meta.ID(plain[:32])
	b.Link = meta.LinkID(plain[32:48])
	return b, nil
}

// ownerKey holds the locator of the master secret a store's links were
// sealed under.
const ownerKey = "engine/owner"

// checkOwner refuses a store written under another master secret (the
// data dir's key was replaced, or lost and made anew): every link key
// derives from the master, so such an engine would open its own replicas
// into garbage, and reads of its own links skip the chunk hash that
// would tell (read.go). A store without the record is taken as this
// master's, and the record written.
func (e *Engine) checkOwner(ctx context.Context) error {
	want := e.owner.locator
	return e.store.Update(ctx, func(tx meta.Tx) error {
		b, err := tx.Get(ownerKey)
		switch {
		case errors.Is(err, meta.ErrNotFound):
			return tx.Put(ownerKey, want[:])
		case err != nil:
			return err
		case !bytes.Equal(b, want[:]):
			return fmt.Errorf("%w: the data was written under the key whose locator is %x, not this one (%s): "+
				"use the key it was made with, or an empty data dir to recover with this one", meta.ErrWrongKey, b, want)
		}
		return nil
	})
}

// HasOwner reports whether store holds the record of the key its data was
// written under, that is whether an engine ever ran on it.
func HasOwner(ctx context.Context, store meta.Store) (bool, error) {
	found := false
	err := store.View(ctx, func(tx meta.Tx) error {
		_, err := tx.Get(ownerKey)
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}
