package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pointfs/pointfs/meta"
	"github.com/pointfs/pointfs/upload"
)

// The local API: the process holding a data dir serves it on a unix socket
// in that dir, so that put, get, status and ls run through the one engine
// that may open the store. HTTP with JSON bodies, for the local machine only
// (the socket is mode 0600 in a 0700 dir).

func socketPath(data string) string { return filepath.Join(data, "pointfs.sock") }

type apiServer struct {
	ln  net.Listener
	srv *http.Server
}

type putRequest struct {
	Path       string `json:"path"`
	Redundancy int    `json:"redundancy,omitempty"`
}

type idReply struct {
	ID meta.ID `json:"id"`
}

type pingReply struct {
	PID      int    `json:"pid"`
	Data     string `json:"data"`
	Embedded bool   `json:"embedded"`
}

func startAPI(n *node) (*apiServer, error) {
	sock := socketPath(n.Data)
	// A socket left by a killed daemon: nobody answers on it, remove it.
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("a pointfs daemon already serves %s", n.Data)
	}
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("local API: %w", err)
	}
	_ = os.Chmod(sock, 0o600)
	mux := http.NewServeMux()
	e := n.Engine
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, pingReply{PID: os.Getpid(), Data: n.Data, Embedded: n.Embedded})
	})
	mux.HandleFunc("POST /v1/put", func(w http.ResponseWriter, r *http.Request) {
		var req putRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
			httpError(w, fmt.Errorf("%w: %v", meta.ErrInvalid, err))
			return
		}
		var pol *meta.Policy
		if req.Redundancy > 0 {
			p := e.DefaultPolicy()
			p.Redundancy = req.Redundancy
			pol = &p
		}
		id, err := e.PutPath(r.Context(), req.Path, pol)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, idReply{ID: id})
	})
	mux.HandleFunc("POST /v1/wait", func(w http.ResponseWriter, r *http.Request) {
		id, err := meta.ParseID(r.URL.Query().Get("id"))
		if err != nil {
			httpError(w, err)
			return
		}
		if err := e.Wait(r.Context(), id); err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, idReply{ID: id})
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		id, err := meta.ParseID(r.URL.Query().Get("id"))
		if err != nil {
			httpError(w, err)
			return
		}
		st, err := e.Status(r.Context(), id, r.URL.Query().Get("detail") == "1")
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("POST /v1/publish", func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		share := n.share
		n.mu.Unlock()
		if share == nil {
			httpError(w, fmt.Errorf("%w: publish needs a mount (this daemon serves no tree)", meta.ErrInvalid))
			return
		}
		rep, err := share(r.Context(), r.URL.Query().Get("path"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, rep)
	})
	mux.HandleFunc("GET /v1/files", func(w http.ResponseWriter, r *http.Request) {
		files, err := e.Files(r.Context())
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, files)
	})
	mux.HandleFunc("GET /v1/get", func(w http.ResponseWriter, r *http.Request) {
		id, err := meta.ParseID(r.URL.Query().Get("id"))
		if err != nil {
			httpError(w, err)
			return
		}
		st, err := e.Status(r.Context(), id, false)
		if err != nil {
			httpError(w, err)
			return
		}
		// The length is announced first: a transfer cut short by a chunk
		// that fails verification is seen as short by the reader.
		w.Header().Set("Content-Length", strconv.FormatInt(st.File.Size, 10))
		w.Header().Set("Content-Type", "application/octet-stream")
		sw := &sentWriter{w: w}
		if err := e.Get(r.Context(), id, sw); err != nil {
			n.Log.Warn("get", "id", id, "err", err)
			if !sw.sent {
				// Nothing went out yet: the reader gets the reason.
				w.Header().Del("Content-Length")
				httpError(w, err)
				return
			}
			panic(http.ErrAbortHandler) // abort the response: never a silent short file
		}
	})
	s := &apiServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.Log.Warn("local API", "err", err)
		}
	}()
	return s, nil
}

func (s *apiServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	return err
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

type apiErr struct {
	Error string `json:"error"`
	Kind  string `json:"kind,omitempty"`
}

func httpError(w http.ResponseWriter, err error) {
	code, kind := http.StatusInternalServerError, ""
	switch {
	case errors.Is(err, meta.ErrNotFound), errors.Is(err, os.ErrNotExist):
		code, kind = http.StatusNotFound, "not_found"
	case errors.Is(err, meta.ErrInvalid):
		code, kind = http.StatusBadRequest, "invalid"
	case errors.Is(err, meta.ErrNoSpace):
		code, kind = http.StatusInsufficientStorage, "no_space"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(apiErr{Error: err.Error(), Kind: kind})
}

// sentWriter notes whether anything was written through it: until then a
// failed get can still answer with an error reply.
type sentWriter struct {
	w    io.Writer
	sent bool
}

func (s *sentWriter) Write(p []byte) (int, error) {
	s.sent = s.sent || len(p) > 0
	return s.w.Write(p)
}

// apiClient talks to the daemon of a data dir.
type apiClient struct {
	data string
	hc   *http.Client
}

// dialDaemon returns a client for the daemon serving data, or
// meta.ErrDaemonNotFound when none answers.
func dialDaemon(data string) (*apiClient, error) {
	sock := socketPath(data)
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	c := &apiClient{data: data, hc: hc}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var p pingReply
	if err := c.call(ctx, "GET", "/v1/ping", nil, &p); err != nil {
		return nil, fmt.Errorf("%w (%s)", meta.ErrDaemonNotFound, data)
	}
	return c, nil
}

func (c *apiClient) call(ctx context.Context, method, path string, body any, out any) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// do sends a request and turns an error reply into an error.
func (c *apiClient) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(json.NewEncoder(pw).Encode(body)) }()
		rd = pr
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://pointfs"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e apiErr
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		if e.Kind == "not_found" {
			return nil, fmt.Errorf("%s: %w", e.Error, meta.ErrNotFound)
		}
		return nil, errors.New(e.Error)
	}
	return resp, nil
}

func (c *apiClient) put(ctx context.Context, path string, redundancy int) (meta.ID, error) {
	var r idReply
	err := c.call(ctx, "POST", "/v1/put", putRequest{Path: path, Redundancy: redundancy}, &r)
	return r.ID, err
}

func (c *apiClient) wait(ctx context.Context, id meta.ID) error {
	return c.call(ctx, "POST", "/v1/wait?id="+id.String(), nil, nil)
}

func (c *apiClient) status(ctx context.Context, id meta.ID, detail bool) (*upload.FileStatus, error) {
	var st upload.FileStatus
	q := "/v1/status?id=" + id.String()
	if detail {
		q += "&detail=1"
	}
	err := c.call(ctx, "GET", q, nil, &st)
	return &st, err
}

func (c *apiClient) files(ctx context.Context) ([]*meta.File, error) {
	var fs []*meta.File
	err := c.call(ctx, "GET", "/v1/files", nil, &fs)
	return fs, err
}

func (c *apiClient) get(ctx context.Context, id meta.ID, w io.Writer) error {
	resp, err := c.do(ctx, "GET", "/v1/get?id="+id.String(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Copied in 1 MiB steps: io.Copy to a file or pipe would take 32 KiB
	// at a time (os.File's ReadFrom, which has no faster way from an HTTP
	// body), 8,000 reads and writes for 256 MiB.
	n, err := io.CopyBuffer(struct{ io.Writer }{w}, resp.Body, make([]byte, 1<<20))
	if err != nil {
		return fmt.Errorf("transfer cut short after %d bytes (the daemon's log says why): %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("transfer cut short: %d of %d bytes", n, resp.ContentLength)
	}
	return nil
}
