package provider

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
	"github.com/ethereum/go-ethereum/common"
	json "github.com/goccy/go-json" // encoding/json's output, several times faster

	"github.com/pointfs/pointfs/meta"
)

// The provider's store: sealed replicas are plain files under
// DataDir/chunks/<first two hex digits of the root>/<root hex> (".part" while
// segments are still arriving), and everything about them is in a badger
// index under DataDir/index. The index keys are
//
//	r ‖ root              → record (one replica: map, owner, expiry, pledge)
//	v ‖ client ‖ link id  → reservation (an accepted STORE_CHUNK_REQUEST)
//	k ‖ client ‖ link id  → root (the link's reservation became a record)
const (
	prefixRecord      = 'r'
	prefixReservation = 'v'
	prefixLinkRoot    = 'k'
)

// record is the index entry of one replica.
type record struct {
	Link      meta.LinkID    `json:"link"`
	Client    common.Address `json:"client"`
	Hash      string         `json:"hash"`
	SegSize   int            `json:"seg_size"`
	SealedLen int64          `json:"sealed_len"`
	Hashes    []meta.ID      `json:"hashes"`
	Expires   int64          `json:"expires"` // unix seconds
	Complete  bool           `json:"complete"`
	Pledge    *meta.Pledge   `json:"pledge,omitempty"` // the last one signed for Client
	Updated   int64          `json:"updated"`          // unix seconds of the last change
	// Rate is the price per byte per day the client offered (wei,
	// decimal); BilledUntil is the end (unix seconds) of the period its
	// account was billed for so far (payments.go).
	Rate        string `json:"rate,omitempty"`
	BilledUntil int64  `json:"billed_until,omitempty"`
}

// reservation is room promised to a link that has not sent its map yet.
type reservation struct {
	SealedLen int64  `json:"sealed_len"`
	Expires   int64  `json:"expires"`  // of the pledge asked for
	Price     string `json:"price"`    // wei per byte per day, decimal
	Deadline  int64  `json:"deadline"` // unix seconds; the room is freed after it
}

func recordKey(root meta.ID) []byte { return append([]byte{prefixRecord}, root[:]...) }

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
	dir string
	db  *badger.DB
}

func openStore(dir string, log *slog.Logger) (*store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "chunks"), 0o700); err != nil {
		return nil, fmt.Errorf("provider: data dir: %w", err)
	}
	for i := range 256 { // the shards up front, not a MkdirAll per replica
		err := os.Mkdir(filepath.Join(dir, "chunks", fmt.Sprintf("%02x", i)), 0o700)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("provider: data dir: %w", err)
		}
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
		return nil, fmt.Errorf("provider: open index: %w", err)
	}
	return &store{dir: dir, db: db}, nil
}

func (s *store) Close() error { return s.db.Close() }

// indexDir is where the badger index lives.
func (s *store) indexDir() string { return filepath.Join(s.dir, "index") }

// paths of a replica's file: complete and in progress.
func (s *store) path(root meta.ID) string {
	h := root.String()
	return filepath.Join(s.dir, "chunks", h[:2], h)
}

func (s *store) partPath(root meta.ID) string { return s.path(root) + ".part" }

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
	err := s.db.View(func(txn *badger.Txn) error { return getJSON(txn, recordKey(root), &r) })
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *store) putRecord(root meta.ID, r *record) error {
	return s.db.Update(func(txn *badger.Txn) error { return setJSON(txn, recordKey(root), r) })
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
		return setJSON(txn, recordKey(root), r)
	})
}

func (s *store) deleteReservation(client common.Address, l meta.LinkID) error {
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(linkKey(prefixReservation, client, l))
	})
}

// deleteRecord drops root's index entries and files.
func (s *store) deleteRecord(root meta.ID, r *record) error {
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(linkKey(prefixLinkRoot, r.Client, r.Link)); err != nil {
			return err
		}
		return txn.Delete(recordKey(root))
	})
	if err != nil {
		return err
	}
	for _, p := range []string{s.path(root), s.partPath(root)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
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
// retried on a conflict with a concurrent update.
func (s *store) updateRecord(root meta.ID, fn func(*record) error) error {
	for {
		err := s.db.Update(func(txn *badger.Txn) error {
			var r record
			if err := getJSON(txn, recordKey(root), &r); err != nil {
				return err
			}
			if err := fn(&r); err != nil {
				return err
			}
			return setJSON(txn, recordKey(root), &r)
		})
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
}
