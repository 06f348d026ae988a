package provider

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb/pbtest"
)

// fullRecord returns a replica record with every field set.
func fullRecord(r *rand.Rand) *record {
	id := func() (v meta.ID) {
		for i := range v {
			v[i] = byte(r.IntN(256))
		}
		return v
	}
	rec := &record{
		Link: meta.NewLinkID(), Hash: "blake3", SegSize: 16 << 10, SealedLen: 256<<10 - 3,
		Hashes: meta.IDList{id(), id(), id()}, Expires: 1 << 33, Complete: true,
		Pledge:  &meta.Pledge{Root: id(), Length: 262141, Expires: 1 << 33, Signature: []byte{9, 8, 7}},
		Updated: 1700000000, Rate: "123456789012345678901234567890", BilledUntil: 1700086400,
		Tags: []tagEntry{{Locator: id(), Tag: []byte("opaque")}, {Locator: id()}},
		Pack: 1<<32 - 1, Off: 1 << 40,
	}
	rec.Client[0], rec.Pledge.Provider[19], rec.Pledge.Client[0] = 1, 2, 3
	return rec
}

func TestRecordCodecRoundTrip(t *testing.T) {
	full := fullRecord(rand.New(rand.NewPCG(1, 2)))
	pbtest.AllSet(t, "record", full)
	for _, r := range []*record{full, {}, {SealedLen: -1, Off: -2}} {
		b := encodeRecord(r)
		var got record
		if err := decodeRecord(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, r) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", &got, r)
		}
	}
	if j, _ := json.Marshal(full); len(encodeRecord(full)) >= len(j)/2 {
		t.Errorf("binary record %d bytes, JSON %d", len(encodeRecord(full)), len(j))
	}
}

// Records written as JSON before the binary form are read as they were,
// also through the store, and the next write turns them binary.
func TestRecordCodecReadsJSONRecords(t *testing.T) {
	want := fullRecord(rand.New(rand.NewPCG(3, 4)))
	j, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got record
	if err := decodeRecord(j, &got); err != nil || !reflect.DeepEqual(&got, want) {
		t.Fatalf("JSON record read as %+v, %v; want %+v", &got, err, want)
	}

	s := startServer(t, nil)
	root := meta.ID{7}
	if err := s.store.db.Update(func(txn *badger.Txn) error { return txn.Set(recordKey(root), j) }); err != nil {
		t.Fatal(err)
	}
	r, err := s.store.record(root)
	if err != nil || !reflect.DeepEqual(r, want) {
		t.Fatalf("record from the index: %+v, %v", r, err)
	}
	if err := s.store.updateRecord(root, func(r *record) error { r.Updated++; return nil }); err != nil {
		t.Fatal(err)
	}
	_ = s.store.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(recordKey(root))
		if err != nil {
			t.Fatal(err)
		}
		return item.Value(func(b []byte) error {
			if b[0] != recordCodecV1 {
				t.Errorf("rewritten record starts with %q", b[0])
			}
			return nil
		})
	})
}

// A damaged record is meta.ErrCorrupt, never a panic.
func TestRecordCodecRefusesDamage(t *testing.T) {
	b := encodeRecord(fullRecord(rand.New(rand.NewPCG(5, 6))))
	for n := 0; n < len(b); n++ {
		var r record
		if err := decodeRecord(b[:n], &r); err != nil && !errors.Is(err, meta.ErrCorrupt) {
			t.Fatalf("cut at %d: %v, want ErrCorrupt", n, err)
		}
	}
	for _, bad := range [][]byte{
		nil,
		{recordCodecV1, 0x0a, 0x03, 1, 2, 3}, // a link id of 3 bytes
		{recordCodecV1, 0x32, 0x05, 1, 2, 3, 4, 5},          // segment hashes not a multiple of 32
		{recordCodecV1, 0x70, 0x80, 0x80, 0x80, 0x80, 0x20}, // pack 1<<33
		{0x02, 0x08, 0x01}, // an unknown version
		[]byte(`{"link":`),
		{recordCodecV1, 0xff},
	} {
		var r record
		if err := decodeRecord(bad, &r); !errors.Is(err, meta.ErrCorrupt) {
			t.Errorf("decode(%x): %v, want ErrCorrupt", bad, err)
		}
	}
}

func FuzzRecordCodec(f *testing.F) {
	f.Add(encodeRecord(fullRecord(rand.New(rand.NewPCG(7, 8)))))
	f.Add([]byte{recordCodecV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r record
		if decodeRecord(b, &r) != nil || b[0] != recordCodecV1 {
			return
		}
		var again record
		if err := decodeRecord(encodeRecord(&r), &again); err != nil || !reflect.DeepEqual(normalizeRecord(&again), normalizeRecord(&r)) {
			t.Fatalf("re-encoded record reads differently: %v", err)
		}
	})
}

// normalizeRecord makes empty slices nil (the codec writes neither).
func normalizeRecord(r *record) *record {
	c := *r
	if len(c.Hashes) == 0 {
		c.Hashes = nil
	}
	if c.Pledge != nil && len(c.Pledge.Signature) == 0 {
		p := *c.Pledge
		p.Signature = nil
		c.Pledge = &p
	}
	for i := range c.Tags {
		if len(c.Tags[i].Tag) == 0 {
			c.Tags[i].Tag = nil
		}
	}
	return &c
}
