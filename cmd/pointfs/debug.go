package main

import (
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // profiles on the debug listener only
	"os"
)

// startDebug serves Go's pprof handlers on $POINTFS_PPROF (e.g.
// 127.0.0.1:6060) when it is set: how we profile a running daemon. Port 0
// picks a free port, logged, so that every process of a devnet (they
// inherit the variable) can be profiled at once.
func startDebug(log *slog.Logger) {
	addr := os.Getenv("POINTFS_PPROF")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("pprof listener", "addr", addr, "err", err)
		return
	}
	log.Info("pprof listening", "addr", ln.Addr().String())
	go func() { _ = http.Serve(ln, nil) }()
}
