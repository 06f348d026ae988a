package upload

import (
	"testing"

	"github.com/pointfs/pointfs/meta"
)

// A file read as uploaded is remembered only if no record changed since
// the read began: the read may predate the change.
func TestUploadedSetRefusesReadsOlderThanAChange(t *testing.T) {
	s := newUploadedSet()
	ids := []meta.ID{{1}, {2}}
	read := []Brief{
		{Known: true, State: meta.FileUploaded, Size: 10},
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

	miss, gen := s.lookup(ids, make([]Brief, len(ids)))
	if len(miss) != 2 {
		t.Fatalf("an empty set knows %d files", 2-len(miss))
	}
	s.forget([]meta.ID{{1}}) // a transaction wrote file 1 meanwhile
	s.remember(gen, ids, []int{0, 1}, read)
	if m := misses(); len(m) != 2 {
		t.Fatalf("a read older than a change was remembered: misses %v", m)
	}

	_, gen = s.lookup(ids, make([]Brief, len(ids)))
	s.remember(gen, ids, []int{0, 1}, read)
	if m := misses(); len(m) != 0 {
		t.Fatalf("misses %v after remembering both", m)
	}
	s.forget([]meta.ID{{1}})
	if m := misses(); len(m) != 1 || m[0] != 0 {
		t.Fatalf("misses %v after file 1 changed, want [0]", m)
	}
}
