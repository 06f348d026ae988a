package badgerdb

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb/pbtest"
)

// fullNode returns a node with every field set.
func fullNode() *meta.Node {
	at := func(s int64) time.Time { return time.Unix(s, 123456789).UTC() }
	n := &meta.Node{
		Inode: 1 << 40, Mode: os.ModeSymlink | os.ModeSetgid | 0o751, UID: 1 << 31, GID: 4,
		Nlink: 3, Size: 1 << 41, Atime: at(1), Mtime: at(2e9), Ctime: at(-3),
		Target: "../ailleurs/cible", Spooled: true,
		Policy: meta.Policy{Redundancy: 5, Expires: at(4e9), Autorenew: true},
		Xattrs: map[string][]byte{"user.b": {0, 1, 2}, "user.a": []byte("ü"), "user.empty": {}},
	}
	n.File[0], n.File[31] = 1, 2
	return n
}

func TestNodeCodecRoundTrip(t *testing.T) {
	full := fullNode()
	pbtest.AllSet(t, "Node", full)
	for _, n := range []*meta.Node{full, {}, {Inode: 1, Mode: os.ModeDir | 0o755, Policy: meta.Policy{Redundancy: 1}}} {
		b := encodeNode(n)
		var got meta.Node
		if err := decode([]byte("k"), b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, n) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", &got, n)
		}
	}
	if j, _ := json.Marshal(full); len(encodeNode(full)) >= len(j)/2 {
		t.Errorf("binary record %d bytes, JSON %d", len(encodeNode(full)), len(j))
	}
}

// Node records written as JSON are read as they were, through a store;
// the next write makes them binary.
func TestNodeCodecReadsJSONRecords(t *testing.T) {
	want := fullNode()
	j, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(filepath.Join(t.TempDir(), "meta"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.db.Update(func(txn *badger.Txn) error { return txn.Set(key(pNode, inoBytes(want.Inode)), j) }); err != nil {
		t.Fatal(err)
	}
	var got *meta.Node
	if err := db.View(ctx, func(tx meta.Tx) (err error) { got, err = tx.Node(want.Inode); return err }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON node read as %+v, want %+v", got, want)
	}
	if err := db.Update(ctx, func(tx meta.Tx) error { return tx.PutNode(got) }); err != nil {
		t.Fatal(err)
	}
	var again *meta.Node
	if err := db.View(ctx, func(tx meta.Tx) (err error) { again, err = tx.Node(want.Inode); return err }); err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("rewritten node read as %+v, %v", again, err)
	}
}

// A damaged node record is meta.ErrCorrupt, never a panic.
func TestNodeCodecRefusesDamage(t *testing.T) {
	b := encodeNode(fullNode())
	for n := 0; n < len(b); n++ {
		var m meta.Node
		if err := decode([]byte("k"), b[:n], &m); err != nil && !errors.Is(err, meta.ErrCorrupt) {
			t.Fatalf("cut at %d: %v, want ErrCorrupt", n, err)
		}
	}
	for _, bad := range [][]byte{
		{nodeCodecV1, 0x10, 0x80, 0x80, 0x80, 0x80, 0x10}, // mode 1<<32
		{nodeCodecV1, 0x5a, 0x03, 1, 2, 3},                // a file id of 3 bytes
		{0x02, 0x08, 0x01},                                // an unknown version
		{nodeCodecV1, 0xff},
	} {
		var m meta.Node
		if err := decode([]byte("k"), bad, &m); !errors.Is(err, meta.ErrCorrupt) {
			t.Errorf("decode(%x): %v, want ErrCorrupt", bad, err)
		}
	}
}

func FuzzNodeCodec(f *testing.F) {
	f.Add(encodeNode(fullNode()))
	f.Add([]byte{nodeCodecV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var n meta.Node
		if decodeNode(b, &n) != nil {
			return
		}
		var again meta.Node
		if err := decodeNode(encodeNode(&n), &again); err != nil || !reflect.DeepEqual(&again, &n) {
			t.Fatalf("re-encoded node reads differently: %v\n%+v\n%+v", err, &again, &n)
		}
	})
}
