package upload

import (
	"context"
	"errors"

	"github.com/pointfs/pointfs/meta"
)

// DefaultCacheMax is the chunk cache's default bound: beyond it, chunks
// that are on the network leave the local disk. A user's files live on
// the providers; without a bound, the cache kept a second copy of all of
// them.
const DefaultCacheMax int64 = 10 << 30

// TrimCache brings the chunk cache within Config.CacheMax (see
// Cache.Trim) and returns the bytes it freed. Only chunks that are
// uploaded or released (no file uses them) leave; a chunk whose upload has
// not completed, failed, or lapsed stays, since nothing else may hold it.
// A chunk without a record is the remains of a put that never finished:
// puts hold off a pack's trim from caching a chunk until they registered
// it (putMu), so none can be under way.
func (e *Engine) TrimCache(ctx context.Context) (int64, error) {
	if e.cfg.CacheMax < 0 || e.cache.Size() <= e.cfg.CacheMax {
		return 0, nil
	}
	freed, err := e.cache.Trim(e.cfg.CacheMax, &e.putMu, func(ids []meta.ID) ([]bool, error) {
		keep := make([]bool, len(ids))
		err := e.store.View(ctx, func(tx meta.Tx) error {
			for i, id := range ids {
				c, err := tx.Chunk(id)
				switch {
				case errors.Is(err, meta.ErrNotFound):
				case err != nil:
					return err
				default:
					released := c.Refs == 0 && c.State == meta.ChunkCreated
					keep[i] = c.State != meta.ChunkUploaded && !released
				}
			}
			return nil
		})
		return keep, err
	})
	if freed > 0 {
		e.log.Info("chunk cache trimmed", "freed", freed, "now", e.cache.Size(), "max", e.cfg.CacheMax)
	}
	return freed, err
}
