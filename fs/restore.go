package fs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/chunkinfo"
	"github.com/pointfs/pointfs/meta/merkle"
)

// ErrTreeNotEmpty is the error Restore returns for a store whose tree
// already has entries.
var ErrTreeNotEmpty = errors.New("the tree is not empty")

// Keys of a restore under way.
const (
	keyRestore      = "fs/restore"        // JSON restoreMark while a restore is under way
	keyRestoreQueue = "fs/restore-dir/"   // + decimal inode: JSON restoreDir, a directory still to fill
	keyRestoreAdopt = "fs/restore-adopt/" // + decimal inode: hex file id the node points at, not yet adopted
)

const (
	restoreBatch    = 256  // entries created per store update
	restoreAdopters = 8    // Adopt calls at once
	restoreLogEvery = 1000 // directories between progress lines
	maxNameLen      = 255  // what the kernel accepts (checkName)
)

// restoreMark says that a restore of Root is under way.
type restoreMark struct {
	Root meta.ID `json:"root"`
	Seq  uint64  `json:"seq"`
}

// restoreDir is a directory of the tree being restored whose entries are
// not all created yet: Next is the index of the first one missing.
type restoreDir struct {
	Ino  meta.Inode `json:"ino"`
	ID   meta.ID    `json:"id"`
	Path string     `json:"path"`
	Next int        `json:"next,omitempty"`
}

// Restore recreates in store the tree whose root directory file is root
// (a tree a FS published with sequence number seq, see Config.PublishRoot)
// so that an FS opened on store afterwards serves it: every directory
// file is read through eng and checked (chunkinfo.DecodeDir; a corrupt one
// stops the restore with an error wrapping meta.ErrCorrupt), and nodes and
// entries are created depth-first with the modes and modification times
// the entries record (0644 for files and 0755 for directories when they
// record none) and the sizes they state. Each file and each distinct
// directory file is adopted by eng (Engine.Adopt), so that the store holds
// a reference to it as if it had been put here; the directories' ids are
// recorded as the last snapshot published, so that the next one publishes
// seq+1 and puts only the directories that changed.
//
// The store's tree must be empty (no root, or a root without entries):
// otherwise the error wraps ErrTreeNotEmpty. Restore writes in batched
// transactions and marks its progress in the store, so that after a crash
// or an error midway, running it again with the same root finishes the
// restore (an FS refuses to open a store whose restore did not finish). It
// must not run while an FS uses the store. A hard link of the original
// tree comes back as separate files; extended attributes, owners and
// special files are not part of a snapshot.
func Restore(ctx context.Context, store meta.Store, eng Engine, root meta.ID, seq uint64, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &restorer{store: store, eng: eng, log: log, root: root}
	start := time.Now()
	resumed, err := r.begin(ctx)
	if err != nil {
		return err
	}
	if resumed {
		log.Info("resuming the restore of a tree", "root", root)
	} else {
		log.Info("restoring a tree", "root", root, "seq", seq)
	}
	if err := r.adoptPending(ctx); err != nil {
		return err
	}
	stack, err := r.queue(ctx)
	if err != nil {
		return err
	}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		sub, err := r.fill(ctx, d)
		if err != nil {
			return err
		}
		slices.Reverse(sub) // depth-first, in name order
		stack = append(stack, sub...)
		if r.dirs++; r.dirs%restoreLogEvery == 0 {
			log.Info("restoring a tree", "root", root, "dirs", r.dirs, "entries", r.entries)
		}
	}
	err = store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.Put(keyTreeSeq, []byte(strconv.FormatUint(seq, 10))); err != nil {
			return err
		}
		if err := tx.Put(keyTreeRoot, []byte(root.String())); err != nil {
			return err
		}
		return tx.Delete(keyRestore)
	})
	if err != nil {
		return fmt.Errorf("restore %s: finish: %w", root, err)
	}
	log.Info("tree restored", "root", root, "seq", seq, "dirs", r.dirs, "entries", r.entries,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// NeedsRestore reports whether a Restore into store is due: its tree is
// empty (no root, or a root without entries) or a Restore into it did not
// finish.
func NeedsRestore(ctx context.Context, store meta.Store) (bool, error) {
	need := true
	err := store.View(ctx, func(tx meta.Tx) error {
		if _, err := tx.Get(keyRestore); err == nil {
			return nil
		} else if !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		err := tx.ReadDir(meta.RootInode, func(string, meta.Inode) error {
			need = false
			return errStop
		})
		if errors.Is(err, errStop) || errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		return err
	})
	return need, err
}

type restorer struct {
	store meta.Store
	eng   Engine
	log   *slog.Logger
	root  meta.ID

	dirs, entries int
}

// begin checks that the tree is empty and marks the restore under way, or
// finds the mark of the same restore and resumes it.
func (r *restorer) begin(ctx context.Context) (resumed bool, err error) {
	autorenew := r.eng.DefaultPolicy().Autorenew
	err = r.store.Update(ctx, func(tx meta.Tx) error {
		resumed = false
		b, err := tx.Get(keyRestore)
		if err == nil {
			var mark restoreMark
			if err := json.Unmarshal(b, &mark); err != nil {
				return fmt.Errorf("%w: %s: %v", meta.ErrCorrupt, keyRestore, err)
			}
			if mark.Root != r.root {
				return fmt.Errorf("%w: the restore of tree %s into this store did not finish", ErrTreeNotEmpty, mark.Root)
			}
			resumed = true
			return nil
		}
		if !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		_, err = tx.Node(meta.RootInode)
		switch {
		case errors.Is(err, meta.ErrNotFound):
			now := time.Now()
			err = tx.PutNode(&meta.Node{
				Inode: meta.RootInode, Mode: os.ModeDir | 0o755,
				UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Nlink: 2,
				Atime: now, Mtime: now, Ctime: now,
				Policy: meta.Policy{Autorenew: autorenew},
			})
			if err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			err := tx.ReadDir(meta.RootInode, func(name string, _ meta.Inode) error {
				return fmt.Errorf("%w: the root holds %q", ErrTreeNotEmpty, name)
			})
			if err != nil {
				return err
			}
		}
		// A snapshot state of the empty tree goes: its directory files
		// are released after the next snapshot published.
		var stale []string
		err = tx.Scan(keyTreeMemo, func(k string, v []byte) error {
			var e memoEntry
			if json.Unmarshal(v, &e) == nil && e.Published {
				e.Published = false
				nv, _ := json.Marshal(e)
				return tx.Put(k, nv)
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Scan(keyTreeDir, func(k string, _ []byte) error {
			stale = append(stale, k)
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range append(stale, keyTreeSeq, keyTreeRoot) {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		mark, _ := json.Marshal(restoreMark{Root: r.root})
		if err := tx.Put(keyRestore, mark); err != nil {
			return err
		}
		return putRestoreDir(tx, restoreDir{Ino: meta.RootInode, ID: r.root})
	})
	if err != nil {
		return false, fmt.Errorf("restore %s: %w", r.root, err)
	}
	return resumed, nil
}

func putRestoreDir(tx meta.Tx, d restoreDir) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return tx.Put(keyRestoreQueue+strconv.FormatUint(uint64(d.Ino), 10), b)
}

// queue reads the directories still to fill.
func (r *restorer) queue(ctx context.Context) ([]restoreDir, error) {
	var out []restoreDir
	err := r.store.View(ctx, func(tx meta.Tx) error {
		out = out[:0]
		return tx.Scan(keyRestoreQueue, func(k string, v []byte) error {
			var d restoreDir
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("%w: %s: %v", meta.ErrCorrupt, k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", r.root, err)
	}
	// Deepest (most recently created) last: depth-first goes on there.
	slices.SortFunc(out, func(a, b restoreDir) int { return cmp.Compare(a.Ino, b.Ino) })
	return out, nil
}

// policyOf returns what to adopt inode ino's content with: its node's
// policy (restored from the snapshot) over the engine's defaults, as the
// FS puts content.
func (r *restorer) policyOf(ctx context.Context, ino meta.Inode) (*meta.Policy, error) {
	var m *meta.Node
	err := r.store.View(ctx, func(tx meta.Tx) (err error) { m, err = tx.Node(ino); return err })
	if err != nil {
		return nil, fmt.Errorf("restore %s: inode %d: %w", r.root, ino, err)
	}
	p := fullPolicy(r.eng.DefaultPolicy(), m.Policy)
	return &p, nil
}

// adoptPending adopts the files a batch recorded but a crash or an error
// left unadopted.
func (r *restorer) adoptPending(ctx context.Context) error {
	var keys []string
	var ids []meta.ID
	err := r.store.View(ctx, func(tx meta.Tx) error {
		keys, ids = keys[:0], ids[:0]
		return tx.Scan(keyRestoreAdopt, func(k string, v []byte) error {
			id, err := meta.ParseID(string(v))
			if err != nil {
				return fmt.Errorf("%w: %s: %v", meta.ErrCorrupt, k, err)
			}
			keys, ids = append(keys, k), append(ids, id)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("restore %s: %w", r.root, err)
	}
	for len(keys) > 0 {
		n := min(len(keys), restoreBatch)
		if err := r.adopt(ctx, keys[:n], ids[:n]); err != nil {
			return err
		}
		keys, ids = keys[n:], ids[n:]
	}
	return nil
}

// adopt adopts ids (restoreAdopters at once) and then drops the keys that
// recorded them as due. A crash between an Adopt and the drop of its key
// adopts the file twice (one reference too many) rather than never.
func (r *restorer) adopt(ctx context.Context, keys []string, ids []meta.ID) error {
	pols := make([]*meta.Policy, len(ids))
	for i, k := range keys {
		ino, err := strconv.ParseUint(strings.TrimPrefix(k, keyRestoreAdopt), 10, 64)
		if err != nil {
			return fmt.Errorf("restore %s: %w: %s", r.root, meta.ErrCorrupt, k)
		}
		if pols[i], err = r.policyOf(ctx, meta.Inode(ino)); err != nil {
			return err
		}
	}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, restoreAdopters)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = r.eng.Adopt(ctx, id, pols[i])
		}()
	}
	wg.Wait()
	var done []string
	var failed error
	for i, err := range errs {
		if err == nil {
			done = append(done, keys[i])
		} else if failed == nil {
			ino := strings.TrimPrefix(keys[i], keyRestoreAdopt)
			failed = fmt.Errorf("restore %s: adopt file %s (inode %s): %w", r.root, ids[i], ino, err)
		}
	}
	err := r.store.Update(ctx, func(tx meta.Tx) error {
		for _, k := range done {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return errors.Join(failed, fmt.Errorf("restore %s: %w", r.root, err))
	}
	return failed
}

// fill creates the entries of directory d still missing, in batches, and
// returns its subdirectories.
func (r *restorer) fill(ctx context.Context, d restoreDir) ([]restoreDir, error) {
	where := "/" + d.Path
	b, err := readDirBytes(ctx, r.eng, d.ID)
	adopted := false
	if errors.Is(err, meta.ErrNotFound) {
		// A directory file the engine does not know yet (a tree recovered
		// or shared): adopting it fetches its chunkinfo from the network.
		pol, perr := r.policyOf(ctx, d.Ino)
		if err = perr; err == nil {
			err = r.eng.Adopt(ctx, d.ID, pol)
		}
		if err == nil {
			adopted = true
			b, err = readDirBytes(ctx, r.eng, d.ID)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("restore %s: directory %q: %w", r.root, where, err)
	}
	entries, err := chunkinfo.DecodeDir(b)
	if err != nil {
		return nil, fmt.Errorf("restore %s: directory %q (%s) is not a valid directory: %w", r.root, where, d.ID, err)
	}
	entries = slices.DeleteFunc(entries, func(e chunkinfo.DirEntry) bool {
		if len(e.Name) <= maxNameLen {
			return false
		}
		r.log.Warn("restore: left out a name longer than the kernel accepts", "dir", where, "name", e.Name)
		return true
	})
	// The directory file: one reference per distinct id, held by the
	// snapshot memo (see snapshot.go).
	k := merkle.Keccak256(b)
	memoKey := keyTreeMemo + k.String()
	held := false
	err = r.store.View(ctx, func(tx meta.Tx) error {
		_, err := tx.Get(memoKey)
		held = err == nil
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", r.root, err)
	}
	if !held && !adopted {
		pol, err := r.policyOf(ctx, d.Ino)
		if err == nil {
			err = r.eng.Adopt(ctx, d.ID, pol)
		}
		if err != nil {
			return nil, fmt.Errorf("restore %s: adopt directory %q (%s): %w", r.root, where, d.ID, err)
		}
	}
	memo, _ := json.Marshal(memoEntry{ID: d.ID, Published: true, Uploaded: true})
	var sub []restoreDir
	for {
		lo := d.Next
		hi := min(lo+restoreBatch, len(entries))
		var subBatch []restoreDir
		var adoptKeys []string
		var adoptIDs []meta.ID
		err := r.store.Update(ctx, func(tx meta.Tx) error {
			subBatch, adoptKeys, adoptIDs = subBatch[:0], adoptKeys[:0], adoptIDs[:0]
			if _, err := tx.Get(memoKey); errors.Is(err, meta.ErrNotFound) {
				if err := tx.Put(memoKey, memo); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			if err := tx.Put(keyTreeDir+strconv.FormatUint(uint64(d.Ino), 10), []byte(d.ID.String())); err != nil {
				return err
			}
			parent, err := tx.Node(d.Ino)
			if err != nil {
				return err
			}
			next, err := nextInode(tx)
			if err != nil {
				return err
			}
			now := time.Now()
			// What an entry without a policy gets: the restored root's
			// (the defaults). Snapshots keep every policy that differs.
			unset := meta.Policy{Autorenew: r.eng.DefaultPolicy().Autorenew}
			for _, e := range entries[lo:hi] {
				if _, err := tx.Lookup(d.Ino, e.Name); err == nil {
					continue // cannot happen: progress is recorded with the entries
				} else if !errors.Is(err, meta.ErrNotFound) {
					return err
				}
				ino := next
				next++
				m := meta.Node{Inode: ino, UID: parent.UID, GID: parent.GID, Nlink: 1,
					Atime: now, Mtime: now, Ctime: now, Policy: entryPolicy(e, unset)}
				if e.Mtime != 0 {
					m.Mtime = time.Unix(0, e.Mtime)
					m.Atime = m.Mtime
				}
				switch e.Type {
				case chunkinfo.TypeFilePtr:
					m.Mode = fileMode(cmp.Or(e.Mode, 0o644))
					m.Size, m.File = e.Size, e.ID
					k := keyRestoreAdopt + strconv.FormatUint(uint64(ino), 10)
					if err := tx.Put(k, []byte(e.ID.String())); err != nil {
						return err
					}
					adoptKeys, adoptIDs = append(adoptKeys, k), append(adoptIDs, e.ID)
				case chunkinfo.TypeDirPtr:
					m.Mode = os.ModeDir | fileMode(cmp.Or(e.Mode, 0o755))
					m.Nlink = 2
					parent.Nlink++
					sd := restoreDir{Ino: ino, ID: e.ID, Path: path.Join(d.Path, e.Name)}
					if err := putRestoreDir(tx, sd); err != nil {
						return err
					}
					subBatch = append(subBatch, sd)
				case chunkinfo.TypeSymlink:
					m.Mode = os.ModeSymlink | 0o777
					m.Target, m.Size = e.Target, int64(len(e.Target))
				}
				if err := tx.PutNode(&m); err != nil {
					return err
				}
				if err := tx.PutDirent(d.Ino, e.Name, ino); err != nil {
					return err
				}
			}
			if err := tx.PutNode(parent); err != nil {
				return err
			}
			if err := tx.Put(keyNextInode, []byte(strconv.FormatUint(uint64(next), 10))); err != nil {
				return err
			}
			qk := keyRestoreQueue + strconv.FormatUint(uint64(d.Ino), 10)
			if hi == len(entries) {
				return tx.Delete(qk)
			}
			nd := d
			nd.Next = hi
			return putRestoreDir(tx, nd)
		})
		if err != nil {
			return nil, fmt.Errorf("restore %s: directory %q: %w", r.root, where, err)
		}
		r.entries += hi - lo
		sub = append(sub, subBatch...)
		if err := r.adopt(ctx, adoptKeys, adoptIDs); err != nil {
			return nil, err
		}
		d.Next = hi
		if hi == len(entries) {
			return sub, nil
		}
	}
}

// nextInode reads the inode counter as FS.allocInode keeps it.
func nextInode(tx meta.Tx) (meta.Inode, error) {
	b, err := tx.Get(keyNextInode)
	if errors.Is(err, meta.ErrNotFound) {
		return meta.RootInode + 1, nil
	}
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q", meta.ErrCorrupt, keyNextInode, b)
	}
	return meta.Inode(v), nil
}

// entryPolicy is the policy a snapshot kept for e, or unset when it kept
// none (the node had the defaults, or the snapshot predates policies).
func entryPolicy(e chunkinfo.DirEntry, unset meta.Policy) meta.Policy {
	if e.Redundancy == 0 && e.Expires == 0 && !e.NoRenew {
		return unset
	}
	p := meta.Policy{Redundancy: e.Redundancy, Autorenew: !e.NoRenew}
	if e.Expires != 0 {
		p.Expires = time.Unix(e.Expires, 0)
	}
	return p
}
