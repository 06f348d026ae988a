package provider

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/ethereum/go-ethereum/common"
	json "github.com/goccy/go-json" // encoding/json's output, several times faster

	"github.com/pointfs/pointfs/meta"
)

// The provider's store. A sealed replica's bytes are a region of a pack
// file, DataDir/packs/NNNNNNNN.pack (pack.go): reserved, and the file grown
// over it, when its record is made; written segment by segment at their
// offsets; read in place; freed by punching a hole when the record goes.
// Everything about a replica, its location included, is in a badger index
// under DataDir/index. Data dirs written before packs hold replicas as
// files of their own, DataDir/chunks/<first two hex digits of the root>/
// <root hex> (".part" while segments arrive), with records that name no
// pack; those keep that layout until they are deleted. The index keys are
//
//	r ‖ root              → record (one replica: map, location, owner, expiry, pledge, tags; binary, recordcodec.go)
//	v ‖ client ‖ link id  → reservation (an accepted STORE_CHUNK_REQUEST; JSON)
//	k ‖ client ‖ link id  → root (the link's reservation became a record)
//	t ‖ locator ‖ root    → tag (the record's tag under locator, for LIST)
//	o ‖ owner             → root record (the newest valid one, encoded)
//
// (p ‖ … belongs to the payments, payments.go.) A record's tags and their
// t entries change together, in one transaction.
const (
	prefixRecord      = 'r'
	prefixReservation = 'v'
	prefixLinkRoot    = 'k'
	prefixTag         = 't'
	prefixRootRecord  = 'o'
)

// maxTags bounds the locators one replica is filed under.
const maxTags = 16

// record is the index entry of one replica.
type record struct {
	Link      meta.LinkID    `json:"link"`
	Client    common.Address `json:"client"`
	Hash      string         `json:"hash"`
	SegSize   int            `json:"seg_size"`
	SealedLen int64          `json:"sealed_len"`
	Hashes    meta.IDList    `json:"hashes"`  // one hex string; records before it hold an array
	Expires   int64          `json:"expires"` // unix seconds
	Complete  bool           `json:"complete"`
	Pledge    *meta.Pledge   `json:"pledge,omitempty"` // the last one signed for Client
	Updated   int64          `json:"updated"`          // unix seconds of the last change
	// Rate is the price per byte per day the client offered (wei,
	// decimal); BilledUntil is the end (unix seconds) of the period its
	// account was billed for so far (payments.go).
	Rate        string `json:"rate,omitempty"`
	BilledUntil int64  `json:"billed_until,omitempty"`
	// Tags file the replica under locators for LIST (at most maxTags).
	Tags []tagEntry `json:"tags,omitempty"`
	// Pack and Off locate the replica: SealedLen bytes at Off in pack
	// Pack. Pack 0 is the layout before packs: a file of its own under
	// chunks/ (store.legacyPath).
	Pack uint32 `json:"pack,omitempty"`
	Off  int64  `json:"off,omitempty"`
}

// tagEntry is one (locator, tag) of a record.
type tagEntry struct {
	Locator meta.ID `json:"locator"`
	Tag     []byte  `json:"tag,omitempty"`
}

// reservation is room promised to a link that has not sent its map yet.
type reservation struct {
	SealedLen int64  `json:"sealed_len"`
	Expires   int64  `json:"expires"`  // of the pledge asked for
	Price     string `json:"price"`    // wei per byte per day, decimal
	Deadline  int64  `json:"deadline"` // unix seconds; the room is freed after it
}

func recordKey(root meta.ID) []byte { return append([]byte{prefixRecord}, root[:]...) }

func tagKey(locator, root meta.ID) []byte {
	k := make([]byte, 0, 1+len(locator)+len(root))
	k = append(k, prefixTag)
	k = append(k, locator[:]...)
	return append(k, root[:]...)
}

func rootRecordKey(owner common.Address) []byte {
	return append([]byte{prefixRootRecord}, owner[:]...)
}

func linkKey(prefix byte, client common.Address, l meta.LinkID) []byte {
	k := make([]byte, 0, 1+len(client)+len(l))
	k = append(k, prefix)
	k = append(k, client[:]...)
	return append(k, l[:]...)
}

// segment returns the offset and length of segment i of the record.
func (r *record) segment(i int) (off int64, n int) {
	off = int64(i) * int64(r.SegSize)
	return off, int(min(int64(r.SegSize), r.SealedLen-off))
}

type store struct {
	dir   string
	db    *badger.DB
	packs *packs
	log   *slog.Logger
}

func openStore(dir string, log *slog.Logger) (*store, error) {
	// No chunks/ for a new data dir: only replicas stored before packs
	// live there, and an old data dir has it.
	p, err := openPacks(filepath.Join(dir, "packs"), log)
	if err != nil {
		return nil, err
	}
	// Small caches: a provider's index holds a few hundred bytes per
	// replica, and devnets run several providers on one machine.
	// The index lives in indexDir.
	opts := badger.DefaultOptions(filepath.Join(dir, "index")).
		WithLogger(badgerLogger{log}).
		WithMetricsEnabled(false).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2)
	db, err := badger.Open(opts)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("provider: open index: %w", err)
	}
	return &store{dir: dir, db: db, packs: p, log: log}, nil
}

func (s *store) Close() error { return errors.Join(s.db.Close(), s.packs.Close()) }

// indexDir is where the badger index lives.
func (s *store) indexDir() string { return filepath.Join(s.dir, "index") }

// paths of the file of a replica stored before packs (a record with Pack
// 0): complete and in progress.
func (s *store) legacyPath(root meta.ID) string {
	h := root.String()
	return filepath.Join(s.dir, "chunks", h[:2], h)
}

func (s *store) legacyPartPath(root meta.ID) string { return s.legacyPath(root) + ".part" }

// readReplica reads len(buf) bytes at off of the replica of root, whose
// record r the caller has.
func (s *store) readReplica(root meta.ID, r *record, buf []byte, off int64) error {
	if r.Pack != 0 {
		return s.packs.readAt(r.Pack, buf, r.Off+off)
	}
	f, err := os.Open(s.legacyPath(root))
	if err != nil {
		return fmt.Errorf("provider: open replica: %w", err)
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, off); err != nil {
		return fmt.Errorf("provider: read %d bytes at %d of replica %s: %w", len(buf), off, root, err)
	}
	return nil
}

func getJSON(txn *badger.Txn, key []byte, v any) error {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return meta.ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

func setJSON(txn *badger.Txn, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set(key, b)
}

// record returns the index entry of root, or meta.ErrNotFound.
func (s *store) record(root meta.ID) (*record, error) {
	var r record
	err := s.db.View(func(txn *badger.Txn) error { return getRecord(txn, root, &r) })
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *store) putRecord(root meta.ID, r *record) error {
	return s.db.Update(func(txn *badger.Txn) error { return setRecord(txn, root, r) })
}

func (s *store) reservation(client common.Address, l meta.LinkID) (*reservation, error) {
	var r reservation
	err := s.db.View(func(txn *badger.Txn) error { return getJSON(txn, linkKey(prefixReservation, client, l), &r) })
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *store) putReservation(client common.Address, l meta.LinkID, r *reservation) error {
	return s.db.Update(func(txn *badger.Txn) error { return setJSON(txn, linkKey(prefixReservation, client, l), r) })
}

// linkRoot returns the root a link's reservation became, or meta.ErrNotFound.
func (s *store) linkRoot(client common.Address, l meta.LinkID) (meta.ID, error) {
	var root meta.ID
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(linkKey(prefixLinkRoot, client, l))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return meta.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = item.ValueCopy(root[:0:len(root)])
		return err
	})
	return root, err
}

// adopt turns a link's reservation into the record of root, atomically, so
// the room it holds is counted exactly once.
func (s *store) adopt(client common.Address, l meta.LinkID, root meta.ID, r *record) error {
	return s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(linkKey(prefixReservation, client, l)); err != nil {
			return err
		}
		if err := txn.Set(linkKey(prefixLinkRoot, client, l), root[:]); err != nil {
			return err
		}
		for _, t := range r.Tags {
			if err := txn.Set(tagKey(t.Locator, root), t.Tag); err != nil {
				return err
			}
		}
		return setRecord(txn, root, r)
	})
}

// Refusals of setTag.
var (
	errNotClient   = errors.New("replica stored by another client")
	errIncomplete  = errors.New("replica still being received")
	errTooManyTags = fmt.Errorf("replica already filed under %d locators", maxTags)
)

// setTag files root's record under locator with tag, replacing the tag of
// a locator it already carries. It fails with meta.ErrNotFound for no such
// record, errNotClient when client did not store it, errIncomplete when
// complete is asked for and the record is not, and errTooManyTags.
func (s *store) setTag(root meta.ID, client common.Address, locator meta.ID, tag []byte, complete bool) error {
	return retryConflict(func() error {
		return s.db.Update(func(txn *badger.Txn) error {
			var r record
			if err := getRecord(txn, root, &r); err != nil {
				return err
			}
			switch {
			case r.Client != client:
				return errNotClient
			case complete && !r.Complete:
				return errIncomplete
			}
			i := slices.IndexFunc(r.Tags, func(t tagEntry) bool { return t.Locator == locator })
			switch {
			case i >= 0:
				r.Tags[i].Tag = tag
			case len(r.Tags) >= maxTags:
				return errTooManyTags
			default:
				r.Tags = append(r.Tags, tagEntry{Locator: locator, Tag: tag})
			}
			if err := txn.Set(tagKey(locator, root), tag); err != nil {
				return err
			}
			return setRecord(txn, root, &r)
		})
	})
}

// tagged calls fn for each replica filed under locator whose root comes
// after after, in root order, with its tag and record, until fn returns
// false. more says whether another entry follows the last one fn saw. Its
// cost is that of the entries visited, not of everything stored. A tag
// entry whose record is gone is skipped.
func (s *store) tagged(locator, after meta.ID, fn func(root meta.ID, tag []byte, r *record) bool) (more bool, err error) {
	prefix := append([]byte{prefixTag}, locator[:]...)
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		it.Seek(tagKey(locator, after))
		for ; it.Valid(); it.Next() {
			item := it.Item()
			var root meta.ID
			copy(root[:], item.Key()[len(prefix):])
			if root == after {
				continue // after itself was listed before
			}
			tag, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			var r record
			err = getRecord(txn, root, &r)
			if errors.Is(err, meta.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if !fn(root, tag, &r) {
				it.Next()
				more = it.Valid()
				return nil
			}
		}
		return nil
	})
	return more, err
}

// rootRecord returns the root record kept for owner, or meta.ErrNotFound.
func (s *store) rootRecord(owner common.Address) (*RootRecord, error) {
	var r RootRecord
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(rootRecordKey(owner))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return meta.ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(r.Unmarshal)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// putRootRecord keeps r as its owner's root record unless the one kept is
// as new or newer; it returns the one kept before (nil if none, or if it
// did not verify) and whether r replaced it. r must be verified.
func (s *store) putRootRecord(r *RootRecord) (old *RootRecord, replaced bool, err error) {
	b, err := r.Marshal()
	if err != nil {
		return nil, false, err
	}
	err = retryConflict(func() error {
		return s.db.Update(func(txn *badger.Txn) error {
			old, replaced = nil, false
			item, err := txn.Get(rootRecordKey(r.Owner))
			switch {
			case err == nil:
				old = new(RootRecord)
				err := item.Value(old.Unmarshal)
				if err == nil {
					err = old.Verify()
				}
				if err != nil {
					// Unreadable or corrupt: the verified record replaces it.
					s.log.Warn("bad root record replaced", "owner", r.Owner, "err", err)
					old = nil
				}
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
			if old != nil && !Newer(r, old) {
				return nil
			}
			replaced = true
			return txn.Set(rootRecordKey(r.Owner), b)
		})
	})
	return old, replaced, err
}

// retryConflict runs a read-modify-write transaction again while it
// conflicts with a concurrent one.
func retryConflict(update func() error) error {
	for {
		err := update()
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
}

func (s *store) deleteReservation(client common.Address, l meta.LinkID) error {
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(linkKey(prefixReservation, client, l))
	})
}

// deleteRecord drops root's index entries (its link, its tags, read again
// in the transaction so that a tag added meanwhile goes too), then frees
// its bytes. It fails only when the index is left unchanged: a replica
// whose bytes could not be freed is gone all the same (the failure is
// logged; only the space stays used).
func (s *store) deleteRecord(root meta.ID, r *record) error {
	var cur record
	err := retryConflict(func() error {
		return s.db.Update(func(txn *badger.Txn) error {
			cur = record{}
			err := getRecord(txn, root, &cur)
			if errors.Is(err, meta.ErrNotFound) {
				cur = *r
			} else if err != nil {
				return err
			}
			for _, t := range cur.Tags {
				if err := txn.Delete(tagKey(t.Locator, root)); err != nil {
					return err
				}
			}
			if err := txn.Delete(linkKey(prefixLinkRoot, cur.Client, cur.Link)); err != nil {
				return err
			}
			return txn.Delete(recordKey(root))
		})
	})
	if err != nil {
		return err
	}
	if err := s.freeReplica(root, &cur); err != nil {
		s.log.Warn("space of a deleted replica not freed", "root", root, "err", err)
	}
	return nil
}

// freeReplica frees the bytes of a replica whose record is gone.
func (s *store) freeReplica(root meta.ID, r *record) error {
	if r.Pack != 0 {
		return s.packs.punch(r.Pack, r.Off, r.SealedLen)
	}
	var errs []error
	for _, p := range []string{s.legacyPath(root), s.legacyPartPath(root)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// each calls fn for every key of the given prefix (without the prefix).
func (s *store) each(prefix byte, fn func(key, val []byte) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if err := item.Value(func(v []byte) error { return fn(item.Key()[1:], v) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// badgerLogger sends badger's warnings and errors to the provider's logger
// and drops its chatter.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any)   { l.log.Error("badger: " + fmt.Sprintf(f, a...)) }
func (l badgerLogger) Warningf(f string, a ...any) { l.log.Warn("badger: " + fmt.Sprintf(f, a...)) }
func (l badgerLogger) Infof(string, ...any)        {}
func (l badgerLogger) Debugf(string, ...any)       {}

// updateRecord changes root's record in a read-modify-write transaction,
// retried on a conflict with a concurrent update. fn must leave Tags alone
// (setTag keeps them in step with their index entries).
func (s *store) updateRecord(root meta.ID, fn func(*record) error) error {
	return retryConflict(func() error {
		return s.db.Update(func(txn *badger.Txn) error {
			var r record
			if err := getRecord(txn, root, &r); err != nil {
				return err
			}
			if err := fn(&r); err != nil {
				return err
			}
			return setRecord(txn, root, &r)
		})
	})
}
