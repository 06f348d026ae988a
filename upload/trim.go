package upload

import (
	"context"
	"errors"
	"time"

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

// trimGap is the least time between two trims: a trim that finds nothing
// to drop (the chunks past the bound are not uploaded yet) still reads
// the records of a pack's chunks.
const trimGap = 5 * time.Second

// kickTrim asks for a trim soon if the cache is past its bound: chunks
// just became uploaded, so some may leave. Kicks coalesce.
func (e *Engine) kickTrim() {
	if e.cfg.CacheMax < 0 || e.cache.Size() <= e.cfg.CacheMax {
		return
	}
	select {
	case e.trimKick <- struct{}{}:
	default:
	}
}

// trimLoop trims the cache when kicked and every KeepInterval. Before,
// only the audit round trimmed, once a minute: a fast writer could put
// tens of gigabytes past the bound meanwhile.
func (e *Engine) trimLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.KeepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.trimKick:
		}
		if _, err := e.TrimCache(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("trim the chunk cache", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(trimGap):
		}
	}
}
