package upload_test

import (
	"context"
	"testing"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/upload"
)

// A directory's status reads its files through Briefs, which remembers
// what it read: a change to a file (a raised redundancy, its release) must
// show at once, not what was remembered.
func TestBriefsFollowChanges(t *testing.T) {
	servers := startProviders(t, healthy(3)...)
	c := openClient(t, t.TempDir(), servers, nil)
	ctx := context.Background()
	pol := c.engine.DefaultPolicy()
	pol.Redundancy = 2
	id := putBytes(t, c.engine, randomBytes(t, 700<<10), &pol)
	other := putBytes(t, c.engine, randomBytes(t, 3000), &pol)
	waitUploaded(t, c.engine, id, time.Minute)
	waitUploaded(t, c.engine, other, time.Minute)
	unknown := meta.ID{1}
	ids := []meta.ID{id, other, unknown}

	check := func(when string, want ...upload.Brief) {
		t.Helper()
		got, err := c.engine.Briefs(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: file %d: %+v, want %+v", when, i, got[i], want[i])
			}
		}
	}
	up := func(size int64) upload.Brief {
		return upload.Brief{Known: true, State: meta.FileUploaded, Size: size}
	}
	check("uploaded", up(700<<10), up(3000), upload.Brief{})
	check("uploaded, asked again", up(700<<10), up(3000), upload.Brief{})

	// More copies than there are providers: the file uploads again, and
	// stays so.
	pol.Redundancy = 4
	if err := c.engine.SetPolicy(ctx, id, pol); err != nil {
		t.Fatal(err)
	}
	st, err := c.engine.Status(ctx, id, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.File.State != meta.FileUploading || st.Uploaded == st.Total {
		t.Fatalf("after raising the redundancy: %s, %d/%d chunks", st.File.State, st.Uploaded, st.Total)
	}
	uploading := upload.Brief{Known: true, State: meta.FileUploading, Size: 700 << 10, Pending: st.Total - st.Uploaded}
	check("redundancy raised", uploading, up(3000), upload.Brief{})

	if err := c.engine.Release(ctx, other); err != nil {
		t.Fatal(err)
	}
	check("the other released", uploading, upload.Brief{}, upload.Brief{})
}
