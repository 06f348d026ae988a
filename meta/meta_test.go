package meta

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestIDListJSON(t *testing.T) {
	l := IDList{{1}, {2, 3}, {0xff}}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 2+3*64 || b[0] != '"' {
		t.Fatalf("marshalled as %s, want one hex string", b)
	}
	var got IDList
	if err := json.Unmarshal(b, &got); err != nil || !slices.Equal(got, l) {
		t.Fatalf("read back %v, %v", got, err)
	}
	// Records written before IDList kept an array of hex ids.
	old, err := json.Marshal([]ID(l))
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := json.Unmarshal(old, &got); err != nil || !slices.Equal(got, l) {
		t.Fatalf("array %s read as %v, %v", old, got, err)
	}
	for _, bad := range []string{`"abc"`, `"` + strings.Repeat("z", 64) + `"`, `["zz"]`, `[1]`, `{}`} {
		if err := json.Unmarshal([]byte(bad), &got); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", bad, err)
		}
	}
}
