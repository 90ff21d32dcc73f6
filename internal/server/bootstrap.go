package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
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

// BootstrapPrefix starts every bootstrap token (API tokens start "bw_").
const BootstrapPrefix = "bwb_"

// NewBootstrapToken returns a bootstrap token: bwb_ and 32 random bytes.
func NewBootstrapToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make bootstrap token: %w", err)
	}
	return BootstrapPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// WriteSecretFile writes a secret to path with mode 0600 (its directory
// made 0700 when missing), replacing any file there at once.
func WriteSecretFile(path, secret string) error {
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
func (s *Server) setupBootstrap(ctx context.Context) error {
	has, err := s.store.HasTokens(ctx)
	if err != nil {
		return fmt.Errorf("read tokens: %w", err)
	}
	path := s.opts.BootstrapTokenFile
	if has {
		if path != "" {
			if data, err := os.ReadFile(path); err == nil && strings.HasPrefix(string(data), BootstrapPrefix) {
				_ = os.Remove(path)
			}
		}
		return nil
	}
	tok, err := NewBootstrapToken()
	if err != nil {
		return err
	}
	if path != "" {
		if err := WriteSecretFile(path, tok); err != nil {
			// Serve anyway: the first token can be created on the store.
			s.log.Warn("cannot write the bootstrap token; create the first token with blackwell token create --store ...",
				"bootstrap_token_file", path, "error", err)
			s.opts.BootstrapTokenFile = ""
		}
	}
	s.bootstrapToken = tok
	return nil
}

// warnOpenAPI says, at start, in what state a caller without an API token
// finds the API: the bootstrap token acts as admin until the first token
// is created (where it is), or, with no file, nobody can act.
func (s *Server) warnOpenAPI() {
	if s.bootstrapToken == "" {
		return
	}
	if s.opts.BootstrapTokenFile == "" {
		s.log.Warn("no API token yet and no --bootstrap-token-file: nobody can use the API until a token is created with blackwell token create --store ...")
		return
	}
	s.log.Warn("no API token yet: a one-time bootstrap token acts as admin until the first token is created (blackwell token create --name NAME --role admin)",
		"bootstrap_token_file", s.opts.BootstrapTokenFile, "listen", s.Addr())
}

// DashboardURL is the dashboard's address; while the bootstrap token
// works, with the token in the fragment (#token=...), which the browser
// never sends and the page keeps like a typed token. For the terminal of
// the one who started the server, never for a log.
func (s *Server) DashboardURL() string {
	u := "http://" + s.Addr() + "/"
	if s.bootstrapToken != "" {
		u += "#token=" + s.bootstrapToken
	}
	return u
}
