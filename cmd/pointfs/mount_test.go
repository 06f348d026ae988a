package main

import (
	"slices"
	"testing"
)

func TestMountHelperArgs(t *testing.T) {
	for _, c := range []struct {
		in, want []string
	}{
		{[]string{"/var/lib/pointfs", "/mnt/point", "-o", "rw,_netdev,allow_other,spool=/var/cache/p"},
			[]string{"--allow-other", "--spool", "/var/cache/p", "--data", "/var/lib/pointfs", "/mnt/point"}},
		{[]string{"pointfs#/d", "/m", "-n", "-t", "fuse.pointfs"},
			[]string{"--data", "/d", "/m"}},
		{[]string{"-v", "/d", "/m", "-o", "defaults"},
			[]string{"--data", "/d", "/m"}},
	} {
		if got := mountHelperArgs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("mountHelperArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
