package upload

import (
	"testing"

	"github.com/pointfs/pointfs/meta"
)

// What a read found of a file is remembered only if the file's record did
// not change since the read began: the read may predate the change.
func TestBriefCacheRefusesReadsOlderThanAChange(t *testing.T) {
	s := newBriefCache()
	ids := []meta.ID{{1}, {2}}
	read := []Brief{
		{Known: true, State: meta.FileUploading, Size: 10, Pending: 1},
		{Known: true, State: meta.FileUploaded, Size: 20},
	}
	misses := func() []int {
		t.Helper()
		out := make([]Brief, len(ids))
		miss, _ := s.lookup(ids, out)
		for i, b := range out {
			if b != (Brief{}) && b != read[i] {
				t.Errorf("file %d remembered as %+v, want %+v", i, b, read[i])
			}
		}
		return miss
	}
	both := []int{0, 1}

	miss, gen := s.lookup(ids, make([]Brief, len(ids)))
	if len(miss) != 2 {
		t.Fatalf("an empty cache knows %d files", 2-len(miss))
	}
	s.forget([]meta.ID{{1}}) // a transaction wrote file 1 meanwhile
	s.remember(gen, ids, both, read)
	if m := misses(); len(m) != 1 || m[0] != 0 {
		t.Fatalf("misses %v after file 1 changed during the read, want [0]", m)
	}

	_, gen = s.lookup(ids, make([]Brief, len(ids)))
	s.remember(gen, ids, both, read)
	if m := misses(); len(m) != 0 {
		t.Fatalf("misses %v after remembering both", m)
	}
	s.forget([]meta.ID{{2}})
	if m := misses(); len(m) != 1 || m[0] != 1 {
		t.Fatalf("misses %v after file 2 changed, want [1]", m)
	}

	// So many changes that the cache no longer knows which: a read that
	// began before them is not remembered at all.
	_, gen = s.lookup(ids, make([]Brief, len(ids)))
	for i := range maxForgot + 1 {
		s.forget([]meta.ID{{3, byte(i), byte(i >> 8)}})
	}
	s.remember(gen, ids, both, read)
	if m := misses(); len(m) != 1 || m[0] != 1 {
		t.Fatalf("misses %v after many changes during the read, want [1]", m)
	}
}
