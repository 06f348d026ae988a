package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/chunkinfo"
	"github.com/pointfs/pointfs/meta/merkle"
	"github.com/pointfs/pointfs/provider"
)

// RecoverReport says what a recovery found.
type RecoverReport struct {
	Providers int // providers asked
	Answered  int // providers that listed their replicas
	Links     int // links recorded (new ones)
	Chunks    int // chunks recorded (new ones)
	Rejected  int // listed entries that did not check out (see the log)
}

// RecoverLinks rebuilds the chunk and link records of this client from what
// the providers hold under its owner tags: after the data dir is lost, the
// key alone finds every replica again. Each entry is checked before it is
// recorded: its tag opens under our key for that root at that provider,
// its segment hashes give its root, and its pledge is the provider's
// signature for us. Chunks come back in state created with no references;
// Adopt gives them to the files that use them. It runs before Start.
func (e *Engine) RecoverLinks(ctx context.Context) (RecoverReport, error) {
	return e.recoverTagged(ctx, e.owner, true)
}

// RecoverShare records the links of a tree someone shared with secret
// (Share), with the link keys their tags carry, so that this engine can
// read that tree.
func (e *Engine) RecoverShare(ctx context.Context, secret [32]byte) (RecoverReport, error) {
	return e.recoverTagged(ctx, shareSecrets(secret), false)
}

func (e *Engine) recoverTagged(ctx context.Context, s tagSecrets, own bool) (RecoverReport, error) {
	var rep RecoverReport
	offers, err := e.net.Discover(ctx)
	if err != nil {
		return rep, fmt.Errorf("find providers: %w", err)
	}
	e.providers.mu.Lock()
	for _, o := range offers {
		e.providers.offers[o.Peer] = o // reads order links by latency
	}
	e.providers.mu.Unlock()
	rep.Providers = len(offers)

	type found struct {
		offer   provider.Offer
		entries []provider.Listed
		err     error
	}
	results := make([]found, len(offers))
	var wg sync.WaitGroup
	for i, o := range offers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entries, err := e.net.ListAll(ctx, o.Peer, s.locator)
			results[i] = found{o, entries, err}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	now := e.cfg.Now()
	var links []*meta.Link
	for _, r := range results {
		if r.err != nil {
			e.log.Warn("recover: provider did not list its replicas", "provider", r.offer.Peer, "err", r.err)
			continue
		}
		rep.Answered++
		for _, ent := range r.entries {
			l, err := e.checkListed(r.offer.Peer, r.offer.Address, s, own, ent, now)
			if err != nil {
				rep.Rejected++
				e.log.Warn("recover: entry refused", "provider", r.offer.Peer, "root", ent.Root, "err", err)
				continue
			}
			links = append(links, l)
		}
	}
	if rep.Answered == 0 {
		return rep, fmt.Errorf("recover: %w: no provider listed its replicas", meta.ErrUnavailable)
	}
	pol := e.DefaultPolicy()
	// Records go in batches: one transaction cannot hold a large tree.
	// A signed link with its chunk and index entries is ~2.5 KB of a
	// transaction; the store's limit holds ~180 (meta/badgerdb's
	// TestTransactionCapacity), so 80 leave room for larger records.
	const batch = 80
	for start := 0; start < len(links); start += batch {
		part := links[start:min(start+batch, len(links))]
		var nl, nc int
		err := e.store.Update(ctx, func(tx meta.Tx) error {
			nl, nc = 0, 0
			for _, l := range part {
				if _, err := tx.Link(l.Chunk, l.ID); err == nil {
					continue // known already (a recovery run twice)
				} else if !errors.Is(err, meta.ErrNotFound) {
					return err
				}
				c, err := tx.Chunk(l.Chunk)
				switch {
				case errors.Is(err, meta.ErrNotFound):
					c = &meta.Chunk{ID: l.Chunk, Size: int(l.SealedLen), State: meta.ChunkCreated,
						Redundancy: pol.Redundancy, Expires: l.Expires, Autorenew: pol.Autorenew}
					nc++
				case err != nil:
					return err
				}
				if l.Expires.After(c.Expires) {
					c.Expires = l.Expires
				}
				if err := tx.PutChunk(c); err != nil {
					return err
				}
				if err := tx.PutLink(l); err != nil {
					return err
				}
				nl++
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("recover: record links: %w", err)
		}
		rep.Links += nl
		rep.Chunks += nc
	}
	return rep, nil
}

// checkListed turns one listed replica into a signed link, or says why it
// cannot be trusted.
func (e *Engine) checkListed(p peer.ID, addr common.Address, s tagSecrets, own bool, ent provider.Listed, now time.Time) (*meta.Link, error) {
	body, err := openTag(s, ent.Root, addr, ent.Tag)
	if err != nil {
		return nil, err
	}
	if own == (body.Key != nil) {
		return nil, fmt.Errorf("%w: tag of the wrong kind", errBadTag)
	}
	h, err := merkle.HasherFor(ent.Hash)
	if err != nil {
		return nil, err
	}
	switch {
	case ent.SegmentSize <= 0 || ent.SealedLen <= 0:
		return nil, fmt.Errorf("%w: segment size %d, length %d", meta.ErrCorrupt, ent.SegmentSize, ent.SealedLen)
	case int64(len(ent.Segments)) != (ent.SealedLen+int64(ent.SegmentSize)-1)/int64(ent.SegmentSize):
		return nil, fmt.Errorf("%w: %d segment hashes for %d bytes", meta.ErrCorrupt, len(ent.Segments), ent.SealedLen)
	case merkle.RootWith(h, ent.Segments) != ent.Root:
		return nil, fmt.Errorf("%w: segment hashes do not give the root", meta.ErrCorrupt)
	}
	pl := ent.Pledge
	if err := provider.VerifyPledge(pl, addr); err != nil {
		return nil, err
	}
	switch {
	case pl.Root != ent.Root || pl.Length != ent.SealedLen:
		return nil, fmt.Errorf("%w: pledge for another replica", meta.ErrBadPledge)
	case own && pl.Client != e.net.Address():
		return nil, fmt.Errorf("%w: pledge for client %s", meta.ErrBadPledge, pl.Client)
	}
	expires := time.Unix(pl.Expires, 0)
	if !expires.After(now) {
		return nil, fmt.Errorf("pledge expired at %s", expires)
	}
	l := &meta.Link{
		ID: body.Link, Chunk: body.Chunk, Provider: p.String(), Address: addr, State: meta.LinkSigned,
		SegmentSize: ent.SegmentSize, SegmentHash: ent.Hash, SealedLen: ent.SealedLen,
		Root: ent.Root, Segments: ent.Segments, Expires: expires, Pledge: pl,
		Created: now, Updated: now,
	}
	if body.Key != nil {
		l.Key = body.Key[:]
	}
	if own {
		l.NextAudit = e.firstAudit(now)
	}
	return l, nil
}

// Adopt adds one reference to file id, which the network holds but this
// engine may not know yet (a recovered or shared tree): it reads the file's
// chunkinfo (a chunk whose links RecoverLinks or RecoverShare recorded),
// checks it, and records the file and its references as a put would. A
// chunk no provider listed gets a record too: its file reads "uploading"
// and reading that chunk fails, which is the truth. A file this engine
// does not know yet gets pol (nil: the defaults); one it knows keeps its
// own.
func (e *Engine) Adopt(ctx context.Context, id meta.ID, pol *meta.Policy) error {
	known := false
	err := e.store.View(ctx, func(tx meta.Tx) error {
		_, err := tx.File(id)
		known = err == nil
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if known {
		return e.commitFile(ctx, id, nil, 0, meta.Policy{}, "")
	}
	info, err := e.chunk(ctx, id)
	if err != nil {
		return fmt.Errorf("chunkinfo of %s: %w", id, err)
	}
	infoLen := len(info.data())
	ids, size, err := chunkinfo.DecodeFile(info.data()) // copies what it keeps
	info.release()
	if err != nil {
		return fmt.Errorf("chunkinfo of %s: %w", id, err)
	}
	p := e.DefaultPolicy()
	if pol != nil {
		p = *pol
	}
	cs, err := e.adoptChunks(ctx, id, infoLen, ids, size, p)
	if err != nil {
		return err
	}
	return e.commitFileSized(ctx, id, ids, size, cs, p, "")
}

// adoptChunks makes sure every chunk of a file being adopted has a record
// that wants it (state uploading, then settled by reconsider), and returns
// the file's chunk size: the size of its first chunk when it has more than
// one, which every chunk but the last shares.
func (e *Engine) adoptChunks(ctx context.Context, fid meta.ID, infoLen int, ids []meta.ID, size int64, pol meta.Policy) (int, error) {
	cs := e.cfg.ChunkSize
	if len(ids) == 1 {
		cs = max(cs, int(size))
	}
	sizeOf := func(i int) int {
		if i < len(ids)-1 {
			return cs
		}
		return int(size - int64(len(ids)-1)*int64(cs))
	}
	all := append([]meta.ID{fid}, ids...)
	var touched []meta.ID
	const batch = 500 // chunks: within the store's transaction limit twice over
	for start := 0; start < len(all); start += batch {
		part := all[start:min(start+batch, len(all))]
		err := e.store.Update(ctx, func(tx meta.Tx) error {
			for j, id := range part {
				i := start + j - 1 // index in ids; -1 is the chunkinfo
				c, err := tx.Chunk(id)
				switch {
				case errors.Is(err, meta.ErrNotFound):
					n := infoLen
					if i >= 0 {
						n = sizeOf(i)
					}
					c = &meta.Chunk{ID: id, Size: n, Redundancy: pol.Redundancy, Expires: pol.Expires,
						Autorenew: pol.Autorenew}
					e.log.Warn("adopt: chunk held by no provider", "file", fid, "chunk", id)
				case err != nil:
					return err
				default:
					if i == 0 && len(ids) > 1 && start == 0 {
						cs = c.Size
					}
				}
				if c.State != meta.ChunkCreated {
					continue
				}
				c.State = meta.ChunkUploading
				if err := tx.PutChunk(c); err != nil {
					return err
				}
				touched = append(touched, id)
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("adopt chunks: %w", err)
		}
	}
	for _, id := range touched {
		if err := e.reconsider(ctx, id); err != nil {
			return 0, err
		}
	}
	e.markDirty(touched...)
	return cs, nil
}

// Share tags every signed link of the tree under directory dir (its
// directory files, its files' chunkinfos and chunks) for readers holding a
// new random secret, and returns the secret. RecoverShare on another
// machine finds those links with it. Links of those chunks signed later
// (repairs) are tagged for it when they are signed (share.go).
func (e *Engine) Share(ctx context.Context, dir meta.ID) (secret [32]byte, tagged int, err error) {
	if _, err := rand.Read(secret[:]); err != nil {
		return secret, 0, err
	}
	chunks, err := e.treeChunks(ctx, dir)
	if err != nil {
		return secret, 0, err
	}
	s := shareSecrets(secret)
	// Kept before the links are read, so that any link signed from then on
	// is tagged too (share.go); dropped again if the share fails here.
	if err := e.keepShare(ctx, secret, s, dir, chunks); err != nil {
		return secret, 0, err
	}
	defer func() {
		if err != nil && tagged == 0 {
			e.dropShare(context.WithoutCancel(ctx), s, chunks)
		}
	}()
	type job struct {
		p peer.ID
		l *meta.Link
	}
	var jobs []job
	replicas := make(map[meta.ID]int, len(chunks)) // signed links per chunk
	for _, id := range chunks {
		var links []*meta.Link
		err := e.store.View(ctx, func(tx meta.Tx) (err error) {
			links, err = tx.Links(id)
			return err
		})
		if err != nil {
			return secret, 0, err
		}
		n := 0
		for _, l := range links {
			p, err := peer.Decode(l.Provider)
			if err != nil || !l.Durable(e.cfg.Now()) {
				continue
			}
			jobs = append(jobs, job{p, l})
			n++
		}
		if n == 0 {
			return secret, 0, fmt.Errorf("share: chunk %s has no signed link yet: %w", id, meta.ErrUnavailable)
		}
		replicas[id] = n
	}
	var (
		mu     sync.Mutex
		failed = map[meta.ID]int{} // failures per chunk
		wg     sync.WaitGroup
		slots  = make(chan struct{}, 16)
	)
	for _, j := range jobs {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			key := e.linkKey(j.l)
			tag := sealTag(s, j.l.Root, j.l.Address, tagBody{Chunk: j.l.Chunk, Link: j.l.ID, Key: &key})
			err := e.net.AddTag(ctx, j.p, j.l.Root, s.locator, tag)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed[j.l.Chunk]++
				e.log.Info("share: tag not added", "provider", j.l.Provider, "root", j.l.Root, "err", err)
				return
			}
			tagged++
		}()
	}
	wg.Wait()
	for id, n := range failed {
		// A chunk none of whose replicas took the tag is unreadable
		// through the share.
		if n == replicas[id] {
			return secret, tagged, fmt.Errorf("share: no provider of chunk %s took its tag: %w", id, meta.ErrUnavailable)
		}
	}
	return secret, tagged, nil
}

// treeChunks lists the distinct chunks of the tree under directory dir:
// every directory file and every file, chunkinfos included.
func (e *Engine) treeChunks(ctx context.Context, dir meta.ID) ([]meta.ID, error) {
	seen := map[meta.ID]bool{}
	var out []meta.ID
	addFile := func(id meta.ID) error {
		f, err := e.fileChunks(ctx, id)
		if err != nil {
			return fmt.Errorf("file %s: %w", id, err)
		}
		for _, c := range f.DistinctChunks() {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
		return nil
	}
	dirs := []meta.ID{dir}
	done := map[meta.ID]bool{}
	for len(dirs) > 0 {
		d := dirs[len(dirs)-1]
		dirs = dirs[:len(dirs)-1]
		if done[d] {
			continue
		}
		done[d] = true
		if err := addFile(d); err != nil {
			return nil, err
		}
		var buf bytesWriter
		if err := e.Get(ctx, d, &buf); err != nil {
			return nil, fmt.Errorf("directory %s: %w", d, err)
		}
		entries, err := chunkinfo.DecodeDir(buf)
		if err != nil {
			return nil, fmt.Errorf("directory %s: %w", d, err)
		}
		for _, ent := range entries {
			switch ent.Type {
			case chunkinfo.TypeDirPtr:
				dirs = append(dirs, ent.ID)
			case chunkinfo.TypeFilePtr:
				if err := addFile(ent.ID); err != nil {
					return nil, err
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b meta.ID) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

// bytesWriter collects what is written to it.
type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}
