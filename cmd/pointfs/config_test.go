package main

import "testing"

func TestCacheMaxFromConfig(t *testing.T) {
	for _, c := range []struct {
		mb   int64
		want int64
	}{
		{0, 0}, // the engine's default
		{-1, -1},
		{-5, -1},
		{2048, 2 << 30},
	} {
		if got := (&clientConfig{CacheMaxMB: c.mb}).cacheMax(); got != c.want {
			t.Errorf("cache_max_mb %d: CacheMax %d, want %d", c.mb, got, c.want)
		}
	}
}
