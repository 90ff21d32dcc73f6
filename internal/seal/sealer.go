package seal

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// Errors of opening a sealed value.
var (
	// ErrUnknownKey: the value names a data key this sealer does not hold.
	ErrUnknownKey = errors.New("sealed with an unknown data key")
	// ErrTampered: the value does not open: altered, truncated, or moved
	// from another row.
	ErrTampered = errors.New("sealed value does not open (altered, or moved from another row)")
)

// prefix starts every sealed value (inside its JSON string).
const prefix = "bwseal1."

// IsSealed reports whether a stored payload is a sealed value.
func IsSealed(v json.RawMessage) bool {
	return bytes.HasPrefix(v, []byte(`"`+prefix))
}

// KeyOf returns the id of the data key a sealed value names ("" when v is
// not sealed).
func KeyOf(v json.RawMessage) string {
	if !IsSealed(v) {
		return ""
	}
	rest := v[1+len(prefix):]
	if i := bytes.IndexByte(rest, '.'); i > 0 {
		return string(rest[:i])
	}
	return ""
}

// Sealer seals and opens payloads with a set of data keys, the newest
// current. It is safe for concurrent use.
type Sealer struct {
	mu      sync.RWMutex
	keys    map[string]cipher.AEAD
	current string
}

func newSealer() *Sealer { return &Sealer{keys: map[string]cipher.AEAD{}} }

// set replaces the data keys; current seals new values.
func (s *Sealer) set(keys map[string]cipher.AEAD, current string) {
	s.mu.Lock()
	s.keys, s.current = keys, current
	s.mu.Unlock()
}

// Current is the id of the data key new values are sealed with.
func (s *Sealer) Current() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.current
}

// aad binds a sealed value to its row and data key.
func aad(table store.PayloadTable, rowKey, keyID string) []byte {
	return []byte("blackwell/seal/v1\x00" + string(table) + "\x00" + rowKey + "\x00" + keyID)
}

// Seal seals a payload of the row (table, rowKey) with the current data
// key. A nil payload stays nil (no payload is kept).
func (s *Sealer) Seal(table store.PayloadTable, rowKey string, plain json.RawMessage) (json.RawMessage, error) {
	if plain == nil {
		return nil, nil
	}
	s.mu.RLock()
	id, aead := s.current, s.keys[s.current]
	s.mu.RUnlock()
	if aead == nil {
		return nil, fmt.Errorf("seal %s %s: no current data key", table, rowKey)
	}
	return sealWith(aead, id, table, rowKey, plain)
}

func sealWith(aead cipher.AEAD, id string, table store.PayloadTable, rowKey string, plain []byte) (json.RawMessage, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal %s %s: nonce: %w", table, rowKey, err)
	}
	ct := aead.Seal(nonce, nonce, plain, aad(table, rowKey, id))
	out := make([]byte, 0, 2+len(prefix)+len(id)+1+base64.RawURLEncoding.EncodedLen(len(ct)))
	out = append(out, '"')
	out = append(out, prefix...)
	out = append(out, id...)
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, ct)
	return append(out, '"'), nil
}

// Open opens a payload of the row (table, rowKey). A value that is not
// sealed (nil, or written before sealing was turned on) is returned as it
// is. ErrUnknownKey when it names a data key the sealer does not hold,
// ErrTampered when it does not open.
func (s *Sealer) Open(table store.PayloadTable, rowKey string, v json.RawMessage) (json.RawMessage, error) {
	if !IsSealed(v) {
		return v, nil
	}
	body := v[1+len(prefix):]
	if len(body) == 0 || body[len(body)-1] != '"' {
		return nil, fmt.Errorf("open %s %s: %w", table, rowKey, ErrTampered)
	}
	id, enc, ok := strings.Cut(string(body[:len(body)-1]), ".")
	if !ok {
		return nil, fmt.Errorf("open %s %s: %w", table, rowKey, ErrTampered)
	}
	s.mu.RLock()
	aead := s.keys[id]
	s.mu.RUnlock()
	if aead == nil {
		return nil, fmt.Errorf("open %s %s: data key %q: %w", table, rowKey, clip(id), ErrUnknownKey)
	}
	ct, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(ct) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("open %s %s: %w", table, rowKey, ErrTampered)
	}
	plain, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], aad(table, rowKey, id))
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", table, rowKey, ErrTampered)
	}
	return plain, nil
}

// newDataKeyID names a new data key: "dk_" and 8 random bytes in hex.
func newDataKeyID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("data key id: %w", err)
	}
	return "dk_" + hex.EncodeToString(b), nil
}

// wrapAAD binds a wrapped data key to its id and its KEK.
func wrapAAD(dataKeyID, kekID string) []byte {
	return []byte("blackwell/data-key/v1\x00" + dataKeyID + "\x00" + kekID)
}

// newDataKey makes a data key wrapped by the keyring's current KEK.
func newDataKey(kr *Keyring, now time.Time) (store.DataKey, cipher.AEAD, error) {
	id, err := newDataKeyID()
	if err != nil {
		return store.DataKey{}, nil, err
	}
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return store.DataKey{}, nil, fmt.Errorf("data key: %w", err)
	}
	dk, err := wrap(kr, id, raw, now)
	if err != nil {
		return store.DataKey{}, nil, err
	}
	aead, err := newAEAD(raw)
	if err != nil {
		return store.DataKey{}, nil, err
	}
	return dk, aead, nil
}

// wrap seals raw, the data key id, with the keyring's current KEK.
func wrap(kr *Keyring, id string, raw []byte, created time.Time) (store.DataKey, error) {
	k := kr.keks[0]
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(raw)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return store.DataKey{}, fmt.Errorf("wrap data key: %w", err)
	}
	ct := k.aead.Seal(nonce, nonce, raw, wrapAAD(id, k.id))
	return store.DataKey{ID: id, KEKID: k.id, Wrapped: base64.StdEncoding.EncodeToString(ct), CreatedAt: created}, nil
}

// unwrap opens a stored data key with the keyring, returning its raw bytes.
func unwrap(kr *Keyring, dk store.DataKey) ([]byte, error) {
	aead, ok := kr.find(dk.KEKID)
	if !ok {
		return nil, fmt.Errorf("data key %s is wrapped by key-encryption key %q, which %s does not hold (it holds %s)",
			dk.ID, dk.KEKID, kr.source, strings.Join(kr.IDs(), ", "))
	}
	ct, err := base64.StdEncoding.DecodeString(dk.Wrapped)
	if err != nil || len(ct) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("data key %s: the stored wrapped key is damaged", dk.ID)
	}
	raw, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], wrapAAD(dk.ID, dk.KEKID))
	if err != nil || len(raw) != KeySize {
		return nil, fmt.Errorf("data key %s does not open with key-encryption key %q of %s: a wrong key under that id, or an altered data key",
			dk.ID, dk.KEKID, kr.source)
	}
	return raw, nil
}

// unwrapAll opens every stored data key; the newest is current.
func unwrapAll(kr *Keyring, keys []store.DataKey) (map[string]cipher.AEAD, map[string][]byte, string, error) {
	aeads, raws := map[string]cipher.AEAD{}, map[string][]byte{}
	current := ""
	for _, dk := range keys {
		raw, err := unwrap(kr, dk)
		if err != nil {
			return nil, nil, "", err
		}
		aead, err := newAEAD(raw)
		if err != nil {
			return nil, nil, "", err
		}
		aeads[dk.ID], raws[dk.ID] = aead, raw
		current = dk.ID // DataKeys is oldest first
	}
	return aeads, raws, current, nil
}
