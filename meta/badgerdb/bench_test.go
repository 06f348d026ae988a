package badgerdb

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/pointfs/pointfs/meta"
)

// BenchmarkLinkStates writes link records as an upload does: each link
// through its states, every state a write, links grouped eight to a
// transaction (upload's linkWrites), with a link's 16 segment hashes and
// their progress. ns/op is one state of one link.
func BenchmarkLinkStates(b *testing.B) {
	ctx := context.Background()
	db, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	r := rand.New(rand.NewPCG(1, 2))
	const group = 8
	links := make([]*meta.Link, group)
	for i := range links {
		l := fullLink(r)
		l.Segments = make(meta.IDList, 16)
		l.Progress = make([]meta.SegmentProgress, 16)
		l.Pledge, l.Payments, l.LastAudit, l.Error = nil, nil, nil, ""
		links[i] = l
	}
	b.ResetTimer()
	for n := 0; n < b.N; n += group {
		if n%(group*11) == 0 { // a new group of links every eleven states
			for _, l := range links {
				l.ID = meta.NewLinkID()
				l.Chunk[0]++
			}
		}
		err := db.Update(ctx, func(tx meta.Tx) error {
			for _, l := range links {
				l.State = meta.LinkState((n / group) % 10)
				if err := tx.PutLink(l); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
