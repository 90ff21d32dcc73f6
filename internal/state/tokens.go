package state

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// TokenPrefix starts every API token secret, so a leaked one is recognised
// (by secret scanners, in logs) for what it is.
const TokenPrefix = "bw_"

// tokenIDPrefix starts every token id; ids are not secret.
const tokenIDPrefix = "tok_"

// HashTokenSecret is what the store keeps of a secret: the hex SHA-256. A
// secret is 256 random bits, so a plain hash is enough (no salt or slow hash
// needed: there is nothing to guess), and a lookup by hash does not leak
// the secret through timing.
func HashTokenSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// newTokenSecret returns a new secret: the prefix and 32 random bytes,
// base64url.
func newTokenSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func newTokenID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token id: %w", err)
	}
	return tokenIDPrefix + hex.EncodeToString(b[:]), nil
}

// NewToken is a token to create.
type NewToken struct {
	Name string
	Role store.Role
	// ClientID scopes the token to one client; empty for every client.
	ClientID string
}

// validate checks a NewToken; errors wrap ErrInvalid.
func (n NewToken) validate() error {
	switch {
	case strings.TrimSpace(n.Name) == "" || len(n.Name) > 100:
		return fmt.Errorf("%w: a token needs a name of 1 to 100 characters", ErrInvalid)
	case strings.ContainsFunc(n.Name, unicode.IsControl):
		return fmt.Errorf("%w: a token name must not hold control characters", ErrInvalid)
	case !n.Role.Valid():
		return fmt.Errorf("%w: role %q is not one of admin, operator, viewer", ErrInvalid, n.Role)
	case n.ClientID != "" && !config.ValidID(n.ClientID):
		return fmt.Errorf("%w: client id %q is not lower-case letters, digits, '.', '_' or '-'", ErrInvalid, n.ClientID)
	}
	return nil
}

// TokenActor names a token in audit entries and logs: its id and name,
// never its secret.
func TokenActor(t store.Token) string { return "token:" + t.ID + " (" + t.Name + ")" }

// tokenChanges is the changes_made of a token's audit entries.
func tokenChanges(t store.Token) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"token_id": t.ID, "name": t.Name, "role": string(t.Role), "client_id": t.ClientID})
	return b
}

// CreateToken creates a token and returns it with its secret, which is not
// stored and cannot be shown again. The creation is audited (action
// token_created) in the same transaction. by names who created it.
func (s *Service) CreateToken(ctx context.Context, n NewToken, by string) (store.Token, string, error) {
	if err := n.validate(); err != nil {
		return store.Token{}, "", err
	}
	secret, err := newTokenSecret()
	if err != nil {
		return store.Token{}, "", err
	}
	id, err := newTokenID()
	if err != nil {
		return store.Token{}, "", err
	}
	t := store.Token{
		ID: id, Name: strings.TrimSpace(n.Name), Role: n.Role, ClientID: n.ClientID,
		SecretHash: HashTokenSecret(secret), CreatedAt: store.Truncate(s.now()), CreatedBy: by,
	}
	audit := []store.AuditEntry{{
		Timestamp: t.CreatedAt, Action: "token_created", ClientID: t.ClientID,
		TriggeredBy: by, Success: true, ChangesMade: tokenChanges(t),
	}}
	if err := s.store.CreateToken(ctx, t, audit); err != nil {
		return store.Token{}, "", err
	}
	return t, secret, nil
}

// RevokeToken revokes a token (at once: the next request with it is
// refused) and audits it (action token_revoked). Revoking a revoked token
// keeps its first revocation time. ErrNotFound when there is no such token.
func (s *Service) RevokeToken(ctx context.Context, id, by string) (store.Token, error) {
	t, err := s.store.GetToken(ctx, id)
	if err != nil {
		return store.Token{}, err
	}
	now := store.Truncate(s.now())
	audit := []store.AuditEntry{{
		Timestamp: now, Action: "token_revoked", ClientID: t.ClientID,
		TriggeredBy: by, Success: true, ChangesMade: tokenChanges(t),
	}}
	t, err = s.store.RevokeToken(ctx, id, now, audit)
	if err != nil {
		return store.Token{}, err
	}
	return t, nil
}

// ErrTokenUnknown, ErrTokenRevoked: why Authenticate refused a secret.
var (
	ErrTokenUnknown = errors.New("unknown API token")
	ErrTokenRevoked = errors.New("revoked API token")
)

// Authenticate returns the token a secret belongs to: ErrTokenUnknown or
// ErrTokenRevoked when it may not be used.
func (s *Service) Authenticate(ctx context.Context, secret string) (store.Token, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return store.Token{}, ErrTokenUnknown
	}
	t, err := s.store.TokenBySecretHash(ctx, HashTokenSecret(secret))
	if errors.Is(err, store.ErrNotFound) {
		return store.Token{}, ErrTokenUnknown
	}
	if err != nil {
		return store.Token{}, err
	}
	if t.RevokedAt != nil {
		return store.Token{}, ErrTokenRevoked
	}
	return t, nil
}
