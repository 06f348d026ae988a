package fs

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pointfs/pointfs/meta"
)

// The release list holds the file references the tree dropped and has
// still to hand back to the engine: one key per entry, keyRelease followed
// by a sequence number (16 hex digits, so that keys sort in the order the
// entries came), the file id as value. A reference may be on it more than
// once: nodes that pointed at the same file each held one.
//
// It was one JSON list under keyReleases, which every unlink and every
// release read and wrote whole: `rm -rf` of a tree of 11,500 files wrote
// gigabytes of it, and took 57 s.
const keyRelease = "fs/release/"

// releaseSeq numbers release entries: above every key in the store (see
// noteReleases) and above the clock's nanoseconds at start, so that keys
// never collide, within a process or across restarts.
var releaseSeq atomic.Uint64

func init() { releaseSeq.Store(uint64(time.Now().UnixNano())) }

// addRelease puts file id on the release list in tx.
func addRelease(tx meta.Tx, id meta.ID) error {
	return tx.Put(fmt.Sprintf("%s%016x", keyRelease, releaseSeq.Add(1)), id[:])
}

// noteReleases moves entries of the old single-key list onto the release
// list, and raises releaseSeq above the entries already on it.
func noteReleases(tx meta.Tx) error {
	err := tx.Scan(keyRelease, func(k string, _ []byte) error {
		if v, err := strconv.ParseUint(k[len(keyRelease):], 16, 64); err == nil {
			for {
				cur := releaseSeq.Load()
				if cur > v || releaseSeq.CompareAndSwap(cur, v) {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var old []meta.ID
	if err := getList(tx, keyReleases, &old); err != nil {
		return err
	}
	if len(old) == 0 {
		return nil
	}
	for _, id := range old {
		if err := addRelease(tx, id); err != nil {
			return err
		}
	}
	return tx.Delete(keyReleases)
}

// release is one entry of the release list.
type release struct {
	key string
	id  meta.ID
}

// firstReleases returns the first entries of the release list, at most
// max. A batch, read once: the entries taken leave deletion marks at the
// front of the list, which every scan steps over until the store compacts
// them away, so taking them one scan each was quadratic again.
func firstReleases(tx meta.Tx, max int) ([]release, error) {
	var out []release
	err := tx.Scan(keyRelease, func(k string, v []byte) error {
		var id meta.ID
		if len(v) != len(id) {
			return fmt.Errorf("%w: release entry %s: %d bytes", meta.ErrCorrupt, k, len(v))
		}
		copy(id[:], v)
		out = append(out, release{k, id})
		if len(out) == max {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return out, nil
}

// dropRelease removes entry key from the release list in tx; ok is false
// when it was not there (any more).
func dropRelease(tx meta.Tx, key string) (ok bool, err error) {
	if _, err := tx.Get(key); errors.Is(err, meta.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, tx.Delete(key)
}
