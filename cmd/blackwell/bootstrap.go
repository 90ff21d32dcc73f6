package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// The bootstrap token: while the store holds no API token, serve (and
// demo) makes a random one-time token that acts as an unscoped admin until
// the first real token is created, and writes it to a file only its user
// can read (--bootstrap-token-file). The CLI, given no --token and talking
// to a server on this machine, reads that file; the dashboard takes it from
// a URL fragment (#token=...). docs/SECURITY.md, "Before the first token".

// bootstrapPrefix starts every bootstrap token (API tokens start "bw_").
const bootstrapPrefix = "bwb_"

// newBootstrapToken returns a bootstrap token: bwb_ and 32 random bytes.
func newBootstrapToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make bootstrap token: %w", err)
	}
	return bootstrapPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

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

// writeSecretFile writes a secret to path with mode 0600 (its directory
// made 0700 when missing), replacing any file there at once.
func writeSecretFile(path, secret string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".bootstrap-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// setupBootstrap makes the bootstrap token when the store holds no API
// token, and writes it to --bootstrap-token-file when one is set. Once a
// token exists, a stale bootstrap file there is removed.
func (s *server) setupBootstrap(ctx context.Context) error {
	has, err := s.store.HasTokens(ctx)
	if err != nil {
		return fmt.Errorf("read tokens: %w", err)
	}
	path := s.opts.bootstrapTokenFile
	if has {
		if path != "" {
			if data, err := os.ReadFile(path); err == nil && strings.HasPrefix(string(data), bootstrapPrefix) {
				_ = os.Remove(path)
			}
		}
		return nil
	}
	tok, err := newBootstrapToken()
	if err != nil {
		return err
	}
	if path != "" {
		if err := writeSecretFile(path, tok); err != nil {
			// Serve anyway: the first token can be created on the store.
			s.log.Warn("cannot write the bootstrap token; create the first token with blackwell token create --store ...",
				"bootstrap_token_file", path, "error", err)
			s.opts.bootstrapTokenFile = ""
		}
	}
	s.bootstrapToken = tok
	return nil
}

// warnOpenAPI says, at start, in what state a caller without an API token
// finds the API: the bootstrap token acts as admin until the first token
// is created (where it is), or, with no file, nobody can act.
func (s *server) warnOpenAPI() {
	if s.bootstrapToken == "" {
		return
	}
	if s.opts.bootstrapTokenFile == "" {
		s.log.Warn("no API token yet and no --bootstrap-token-file: nobody can use the API until a token is created with blackwell token create --store ...")
		return
	}
	s.log.Warn("no API token yet: a one-time bootstrap token acts as admin until the first token is created (blackwell token create --name NAME --role admin)",
		"bootstrap_token_file", s.opts.bootstrapTokenFile, "listen", s.Addr())
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

// dashboardURL is the dashboard's address; while the bootstrap token
// works, with the token in the fragment (#token=...), which the browser
// never sends and the page keeps like a typed token. For the terminal of
// the one who started the server, never for a log.
func (s *server) dashboardURL() string {
	u := "http://" + s.Addr() + "/"
	if s.bootstrapToken != "" {
		u += "#token=" + s.bootstrapToken
	}
	return u
}
