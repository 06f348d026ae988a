package main

import (
	"slices"
	"testing"
)

func TestProviderEnvSharesCores(t *testing.T) {
	base := []string{"PATH=/bin"}
	for _, c := range []struct {
		env         []string
		count, cpus int
		want        []string
	}{
		{base, 5, 2, []string{"PATH=/bin", "GOMAXPROCS=1"}},
		{base, 2, 8, []string{"PATH=/bin", "GOMAXPROCS=4"}},
		{base, 3, 8, []string{"PATH=/bin", "GOMAXPROCS=2"}},
		// The caller's own setting wins.
		{[]string{"GOMAXPROCS=3", "PATH=/bin"}, 5, 2, []string{"GOMAXPROCS=3", "PATH=/bin"}},
	} {
		if got := providerEnv(slices.Clone(c.env), c.count, c.cpus); !slices.Equal(got, c.want) {
			t.Errorf("providerEnv(%q, %d, %d) = %q, want %q", c.env, c.count, c.cpus, got, c.want)
		}
	}
}
