package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // profiles on the debug listener only
	"os"
)

// startDebug serves Go's pprof handlers on $POINTFS_PPROF (e.g.
// 127.0.0.1:6060) when it is set: how we profile a running daemon.
func startDebug(log *slog.Logger) {
	addr := os.Getenv("POINTFS_PPROF")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			log.Warn("pprof listener", "addr", addr, "err", err)
		}
	}()
}
