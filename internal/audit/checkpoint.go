package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// Key signs audit checkpoints: an Ed25519 key pair. The server holds the
// private key (a PKCS #8 PEM file, as `openssl genpkey -algorithm ed25519`
// or `blackwell audit keygen` writes it); a verifier needs only the public
// key, so it can check checkpoints without being able to forge one.
type Key struct {
	priv ed25519.PrivateKey
}

// GenerateKey returns a new random key.
func GenerateKey() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate audit key: %w", err)
	}
	return &Key{priv: priv}, nil
}

// LoadKey reads a private key file (PEM, PKCS #8, Ed25519).
func LoadKey(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read audit key: %w", err)
	}
	k, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	return k, nil
}

// ParseKey reads a PEM "PRIVATE KEY" block holding an Ed25519 key.
func ParseKey(data []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" (PKCS #8) block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return &Key{priv: priv}, nil
}

// PrivatePEM is the key as a PEM file. Keep it secret.
func (k *Key) PrivatePEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		panic("audit: marshal ed25519 key: " + err.Error()) // cannot fail for Ed25519
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Public is the public half.
func (k *Key) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// PublicPEM is the public key as a PEM "PUBLIC KEY" (PKIX) block.
func PublicPEM(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic("audit: marshal ed25519 public key: " + err.Error()) // cannot fail for Ed25519
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKey reads a public key given as a PEM "PUBLIC KEY" block, a
// PEM "PRIVATE KEY" block (its public half) or the base64 of the 32 raw
// bytes (as the API shows it).
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		switch block.Type {
		case "PRIVATE KEY":
			k, err := ParseKey(data)
			if err != nil {
				return nil, err
			}
			return k.Public(), nil
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse public key: %w", err)
			}
			pub, ok := k.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
			}
			return pub, nil
		}
		return nil, fmt.Errorf("a PEM %q block, not a public key", block.Type)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("not a PEM public key nor the base64 of a 32-byte Ed25519 public key")
	}
	return ed25519.PublicKey(raw), nil
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// ID is KeyID of the key's public half.
func (k *Key) ID() string { return KeyID(k.Public()) }

// checkpointMessage is what a checkpoint's signature covers: every field
// but the signature, in a fixed text form.
func checkpointMessage(cp store.AuditCheckpoint) []byte {
	return fmt.Appendf(nil, "blackwell audit checkpoint v1\nseq=%d\nhash=%s\ncount=%d\ncreated_at=%s\nkey_id=%s\n",
		cp.Seq, cp.Hash, cp.Count, store.Truncate(cp.CreatedAt).Format(time.RFC3339Nano), cp.KeyID)
}

// Sign returns cp with KeyID and Signature set by k.
func (k *Key) Sign(cp store.AuditCheckpoint) store.AuditCheckpoint {
	cp.CreatedAt = store.Truncate(cp.CreatedAt)
	cp.KeyID = k.ID()
	cp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(k.priv, checkpointMessage(cp)))
	return cp
}

// VerifyCheckpoint checks that pub signed cp as it is, and that cp is
// consistent in itself (a chain has no gaps, so Count is Seq).
func VerifyCheckpoint(pub ed25519.PublicKey, cp store.AuditCheckpoint) error {
	if cp.KeyID != KeyID(pub) {
		return fmt.Errorf("checkpoint at entry %d is signed by key %s, not by key %s", cp.Seq, cp.KeyID, KeyID(pub))
	}
	sig, err := base64.StdEncoding.DecodeString(cp.Signature)
	if err != nil || !ed25519.Verify(pub, checkpointMessage(cp), sig) {
		return fmt.Errorf("checkpoint at entry %d: signature does not verify (checkpoint altered)", cp.Seq)
	}
	if cp.Count != cp.Seq {
		return fmt.Errorf("checkpoint at entry %d stands for %d entries, not %d", cp.Seq, cp.Count, cp.Seq)
	}
	return nil
}
