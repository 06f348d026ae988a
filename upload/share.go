package upload

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
)

// A share (Share) tags the replicas of a tree for readers holding its
// secret. Links made after it for the same chunks (repairs, a raised
// redundancy) are tagged for it too: the share's secret is kept in the
// store (meta key "share/<locator>"), and each chunk it covers is filed
// under "share/chunk/<chunk>/<locator>". Without that, a share lost the
// replicas its owner repaired, and with them, in time, its chunks. (The
// secret sits beside the owner's key file in the data dir, which reads
// everything anyway.)

type shareRecord struct {
	Secret string  `json:"secret"` // hex
	Dir    meta.ID `json:"dir"`
}

const (
	sharePrefix      = "share/"
	shareChunkPrefix = "share/chunk/"
	shareBatch       = 1000 // chunk entries written or deleted per transaction
)

func shareKey(locator meta.ID) string { return sharePrefix + locator.String() }

func shareChunkKey(chunk, locator meta.ID) string {
	return shareChunkPrefix + chunk.String() + "/" + locator.String()
}

// keepShare records the share of dir with secret s over chunks, in
// transactions of shareBatch chunks.
func (e *Engine) keepShare(ctx context.Context, secret [32]byte, s tagSecrets, dir meta.ID, chunks []meta.ID) error {
	b, err := json.Marshal(shareRecord{Secret: hex.EncodeToString(secret[:]), Dir: dir})
	if err != nil {
		return err
	}
	for start := 0; start < len(chunks) || start == 0; start += shareBatch {
		part := chunks[start:min(start+shareBatch, len(chunks))]
		err := e.store.Update(ctx, func(tx meta.Tx) error {
			if start == 0 {
				if err := tx.Put(shareKey(s.locator), b); err != nil {
					return err
				}
			}
			for _, c := range part {
				if err := tx.Put(shareChunkKey(c, s.locator), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("keep share: %w", err)
		}
	}
	e.shared.Store(true)
	return nil
}

// dropShare forgets the share with secrets s over chunks (a Share that
// failed before tagging anything).
func (e *Engine) dropShare(ctx context.Context, s tagSecrets, chunks []meta.ID) {
	err := e.store.Update(ctx, func(tx meta.Tx) error { return tx.Delete(shareKey(s.locator)) })
	for start := 0; err == nil && start < len(chunks); start += shareBatch {
		part := chunks[start:min(start+shareBatch, len(chunks))]
		err = e.store.Update(ctx, func(tx meta.Tx) error {
			for _, c := range part {
				if err := tx.Delete(shareChunkKey(c, s.locator)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		e.log.Warn("forget a failed share", "err", err)
	}
}

// anyShare reports whether the store holds a share.
func (e *Engine) anyShare(ctx context.Context) (bool, error) {
	found := false
	errFound := errors.New("found")
	err := e.store.View(ctx, func(tx meta.Tx) error {
		return tx.Scan(sharePrefix, func(string, []byte) error { found = true; return errFound })
	})
	if errors.Is(err, errFound) {
		err = nil
	}
	return found, err
}

// tagForShares adds to l, just signed at p, the tag of every share that
// covers its chunk. Best effort, like Share itself: a tag not added is
// logged, and the chunk's other replicas still carry theirs.
func (e *Engine) tagForShares(ctx context.Context, l *meta.Link, p peer.ID) {
	if !e.shared.Load() {
		return
	}
	var secrets [][32]byte
	err := e.store.View(ctx, func(tx meta.Tx) error {
		var locators []string
		prefix := shareChunkPrefix + l.Chunk.String() + "/"
		err := tx.Scan(prefix, func(k string, _ []byte) error {
			locators = append(locators, strings.TrimPrefix(k, prefix))
			return nil
		})
		if err != nil {
			return err
		}
		for _, loc := range locators {
			b, err := tx.Get(sharePrefix + loc)
			if errors.Is(err, meta.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			var r shareRecord
			var secret [32]byte
			if err := json.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("%w: share %s: %v", meta.ErrCorrupt, loc, err)
			}
			if n, err := hex.Decode(secret[:], []byte(r.Secret)); err != nil || n != 32 {
				return fmt.Errorf("%w: share %s: secret", meta.ErrCorrupt, loc)
			}
			secrets = append(secrets, secret)
		}
		return nil
	})
	if err != nil {
		e.log.Warn("shares of a new link", "link", l.ID, "err", err)
		return
	}
	key := e.linkKey(l)
	for _, secret := range secrets {
		s := shareSecrets(secret)
		tag := sealTag(s, l.Root, l.Address, tagBody{Chunk: l.Chunk, Link: l.ID, Key: &key})
		if err := e.net.AddTag(ctx, p, l.Root, s.locator, tag); err != nil {
			e.log.Info("share: tag of a new link not added", "provider", l.Provider, "root", l.Root, "err", err)
		}
	}
}
