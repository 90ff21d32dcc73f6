package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	bwserver "github.com/blackwellio/blackwell/internal/server"
)

// The CLI's side of the bootstrap token (internal/server/bootstrap.go makes
// it and writes it to --bootstrap-token-file): given no --token and talking
// to a server on this machine, the CLI reads that file.
// docs/SECURITY.md, "Before the first token".

// bootstrapPrefix starts every bootstrap token (API tokens start "bw_").
const bootstrapPrefix = bwserver.BootstrapPrefix

// defaultBootstrapFile is where a server listening on addr writes its
// bootstrap token and the CLI looks for it:
// $XDG_RUNTIME_DIR/blackwell/bootstrap-PORT.token, else
// ~/.cache/blackwell/bootstrap-PORT.token (per port: several servers may
// run on one machine). Empty when neither directory is known.
func defaultBootstrapFile(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return ""
	}
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		if dir, err = os.UserCacheDir(); err != nil {
			return ""
		}
	}
	return filepath.Join(dir, "blackwell", "bootstrap-"+port+".token")
}

// bootstrapToken returns the bootstrap token the CLI sends when it has no
// --token: read from --bootstrap-token-file, else the default file of the
// server's port, and only for a server on this machine (a loopback
// address or localhost). Empty when there is none.
func (g *globals) bootstrapToken(u *url.URL) string {
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return ""
	}
	path := g.bootstrapFile
	if path == "" {
		port := u.Port()
		if port == "" {
			port = "80"
			if u.Scheme == "https" {
				port = "443"
			}
		}
		path = defaultBootstrapFile(net.JoinHostPort(host, port))
	}
	if path == "" {
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(g.stderr, "blackwell: bootstrap token: %v\n", err)
		}
		return ""
	}
	tok := strings.TrimSpace(string(data))
	if !strings.HasPrefix(tok, bootstrapPrefix) {
		return ""
	}
	return tok
}
