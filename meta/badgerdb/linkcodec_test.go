package badgerdb

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/meta/pb/pbtest"
)

// fullLink returns a link with every field set, nested ones too.
func fullLink(r *rand.Rand) *meta.Link {
	id := func() (v meta.ID) {
		for i := range v {
			v[i] = byte(r.IntN(256))
		}
		return v
	}
	at := func() time.Time { return time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC() }
	l := &meta.Link{
		Chunk: id(), Provider: "12D3KooWprovider", State: meta.LinkSigned, Error: "it <failed> & \"so\"",
		SegmentSize: 16 << 10, SegmentHash: "blake3", SealedLen: 256 << 10, Root: id(),
		Segments: meta.IDList{id(), id(), id()}, Key: []byte{1, 2, 3},
		Progress:    []meta.SegmentProgress{{SentAt: -5, Tries: 2, Acked: true}, {SentAt: 7}},
		Retransmits: 3, Rewinds: 1, Expires: at(), Price: "123456789012345678901234567890", Rate: "7",
		Pledge: &meta.Pledge{Root: id(), Length: 262144, Expires: 1 << 40, Signature: []byte{9, 8, 7}},
		Payments: []meta.Payment{
			{Channel: 4, Amount: "10", Cumulative: "30", Acked: true, Error: "none"},
			{Amount: "5"},
		},
		Created: at(), Updated: at(), NextAudit: at(),
		LastAudit:    &meta.Audit{At: at(), Segment: 12, OK: true, Error: "late"},
		AuditsPassed: 40, Renewals: 2,
	}
	copy(l.ID[:], "0123456789abcdef")
	l.Address[0], l.Pledge.Provider[19], l.Pledge.Client[0] = 1, 2, 3
	return l
}

func TestLinkCodecRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	full := fullLink(r)
	pbtest.AllSet(t, "Link", full)
	for _, l := range []*meta.Link{full, {}, {State: meta.LinkCreated, Created: time.Unix(0, 0).UTC()}} {
		b := encodeLink(l)
		var got meta.Link
		if err := decodeLink(b, &got); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !reflect.DeepEqual(&got, l) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", &got, l)
		}
		// Through the store's own decode too.
		var again meta.Link
		if err := decode([]byte("k"), b, &again); err != nil || !reflect.DeepEqual(&again, l) {
			t.Fatalf("decode: %+v, %v", &again, err)
		}
	}
	if j, _ := json.Marshal(full); len(encodeLink(full)) >= len(j)/2+64 {
		t.Errorf("binary record %d bytes, JSON %d", len(encodeLink(full)), len(j))
	}
}

// Records written as JSON before the binary form are still read, as they
// were.
func TestLinkCodecReadsJSONRecords(t *testing.T) {
	l := fullLink(rand.New(rand.NewPCG(3, 4)))
	j, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var got meta.Link
	if err := decode([]byte("k"), j, &got); err != nil {
		t.Fatal(err)
	}
	var want meta.Link
	if err := json.Unmarshal(j, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || got.Updated.Compare(l.Updated) != 0 || got.ID != l.ID {
		t.Fatalf("JSON record read as %+v, want %+v", got, want)
	}
}

// A damaged record is meta.ErrCorrupt, never a panic or a half-read link
// taken for whole.
func TestLinkCodecRefusesDamage(t *testing.T) {
	b := encodeLink(fullLink(rand.New(rand.NewPCG(5, 6))))
	for n := 0; n < len(b); n++ {
		var l meta.Link
		err := decode([]byte("k"), b[:n], &l)
		if n > 1 && err == nil {
			// A cut between two fields reads as a shorter record: it
			// must not be one (the last field, renewals, is set).
			if l.Renewals != 0 {
				t.Fatalf("cut at %d of %d read whole", n, len(b))
			}
			continue
		}
		if n > 1 && !errors.Is(err, meta.ErrCorrupt) {
			t.Fatalf("cut at %d: %v, want ErrCorrupt", n, err)
		}
	}
	for _, bad := range [][]byte{
		{linkCodecV1, 0x0a, 0x03, 1, 2, 3},                                  // an id of 3 bytes
		{linkCodecV1, 0x28, 0x63},                                           // state 99
		{linkCodecV1, 0x5a, 0x05, 1, 2, 3, 4, 5},                            // segment hashes not a multiple of 32
		{linkCodecV1, 0x82, 0x01, 0x06, 0x10, 0x80, 0x94, 0xeb, 0xdc, 0x03}, // 1e9 nanoseconds
		{0x02, 0x08, 0x01},                                                  // an unknown version
		{linkCodecV1, 0xff},
	} {
		var l meta.Link
		if err := decode([]byte("k"), bad, &l); !errors.Is(err, meta.ErrCorrupt) {
			t.Errorf("decode(%x): %v, want ErrCorrupt", bad, err)
		}
	}
}

func FuzzLinkCodec(f *testing.F) {
	f.Add(encodeLink(fullLink(rand.New(rand.NewPCG(7, 8)))))
	f.Add([]byte{linkCodecV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l meta.Link
		if decodeLink(b, &l) != nil {
			return
		}
		var again meta.Link
		if err := decodeLink(encodeLink(&l), &again); err != nil || !reflect.DeepEqual(normalizeLink(&again), normalizeLink(&l)) {
			t.Fatalf("re-encoded record reads differently: %v", err)
		}
	})
}

// normalizeLink makes empty slices nil (the codec writes neither).
func normalizeLink(l *meta.Link) *meta.Link {
	c := *l
	if len(c.Key) == 0 {
		c.Key = nil
	}
	if len(c.Segments) == 0 {
		c.Segments = nil
	}
	if c.Pledge != nil && len(c.Pledge.Signature) == 0 {
		p := *c.Pledge
		p.Signature = nil
		c.Pledge = &p
	}
	return &c
}
