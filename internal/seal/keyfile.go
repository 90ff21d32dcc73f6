package seal

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// KeySize is the size of every key: AES-256.
const KeySize = 32

// kek is one key-encryption key of a key file.
type kek struct {
	id   string
	aead cipher.AEAD
}

// Keyring is the key-encryption keys of a key file, the first current.
type Keyring struct {
	keks []kek
	// source names the file, for errors.
	source string
}

var keyID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ReadKeyFile reads a key file: one key-encryption key a line, written
// "id:base64" (standard base64 of 32 random bytes), the first line the
// current key; blank lines and lines starting with # are ignored.
// Errors name the file and line, never key material.
func ReadKeyFile(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("encryption key file: %w", err)
	}
	return ParseKeyFile(path, data)
}

// ParseKeyFile parses the contents of a key file (see ReadKeyFile); name
// is used in errors.
func ParseKeyFile(name string, data []byte) (*Keyring, error) {
	kr := &Keyring{source: name}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, b64, ok := strings.Cut(line, ":")
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s:%d: want id:base64 (32 bytes)", name, n)
		case !keyID.MatchString(id):
			return nil, fmt.Errorf("%s:%d: key id %q: want letters, digits, '.', '_' or '-', at most 64", name, n, clip(id))
		case seen[id]:
			return nil, fmt.Errorf("%s:%d: key id %q is listed twice", name, n, id)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != KeySize {
			return nil, fmt.Errorf("%s:%d: key %q is not the base64 of %d bytes", name, n, id, KeySize)
		}
		aead, err := newAEAD(raw)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: key %q: %w", name, n, id, err)
		}
		seen[id] = true
		kr.keks = append(kr.keks, kek{id: id, aead: aead})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(kr.keks) == 0 {
		return nil, fmt.Errorf("%s: no key (want lines id:base64 of %d random bytes)", name, KeySize)
	}
	return kr, nil
}

// Current is the id of the key-encryption key that wraps new data keys.
func (k *Keyring) Current() string { return k.keks[0].id }

// IDs are the ids of the keys, the current one first.
func (k *Keyring) IDs() []string {
	out := make([]string, len(k.keks))
	for i, e := range k.keks {
		out[i] = e.id
	}
	return out
}

func (k *Keyring) find(id string) (cipher.AEAD, bool) {
	for _, e := range k.keks {
		if e.id == id {
			return e.aead, true
		}
	}
	return nil, false
}

// NewKeyLine returns a new key file line for id: 32 random bytes.
func NewKeyLine(id string) (string, error) {
	if !keyID.MatchString(id) {
		return "", fmt.Errorf("key id %q: want letters, digits, '.', '_' or '-', at most 64", clip(id))
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("random key: %w", err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(key), nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return cipher.NewGCM(block)
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
