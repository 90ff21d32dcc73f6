package store

import (
	"context"
	"time"
)

// Role is what an API token may do. Each role may do everything the roles
// below it may.
type Role string

// The roles of API tokens, from least to most.
const (
	// RoleViewer reads: stacks, drift, history, events, audit.
	RoleViewer Role = "viewer"
	// RoleOperator also acts on the running system: triggers passes,
	// acknowledges drift, approves or rejects heals, rolls back.
	RoleOperator Role = "operator"
	// RoleAdmin also changes desired state and policy (config, PATCH of a
	// stack, policy PUT) and manages tokens.
	RoleAdmin Role = "admin"
)

// Roles lists the roles from least to most.
var Roles = []Role{RoleViewer, RoleOperator, RoleAdmin}

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether a token of role r may do what needs role need. An
// unknown role allows nothing.
func (r Role) Allows(need Role) bool { return r.Valid() && need.Valid() && r.rank() >= need.rank() }

// Token is a stored API token. The secret itself is never stored: only
// SecretHash, the SHA-256 of the secret the holder presents.
type Token struct {
	// ID names the token in lists, audit entries and revocation; it is not
	// secret.
	ID   string `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
	// ClientID, when set, scopes the token to one client: it sees and
	// changes only that client's stacks.
	ClientID   string     `json:"client_id,omitempty"`
	SecretHash string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// TokenStore holds API tokens. Writes that change who may do what carry
// their audit entries, appended to the chain in the same transaction.
type TokenStore interface {
	// CreateToken stores a new token and appends audit; ErrConflict when
	// its ID or SecretHash is taken (nothing is written then).
	CreateToken(ctx context.Context, t Token, audit []AuditEntry) error
	// GetToken returns a token by ID, revoked or not, or ErrNotFound.
	GetToken(ctx context.Context, id string) (Token, error)
	// TokenBySecretHash returns the token, revoked or not, whose
	// SecretHash is hash, or ErrNotFound.
	TokenBySecretHash(ctx context.Context, hash string) (Token, error)
	// ListTokens returns every token, revoked ones too, ordered by
	// CreatedAt then ID.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken sets RevokedAt to at unless the token is already revoked
	// (the first revocation stands), appends audit, and returns the token
	// as stored; ErrNotFound (nothing written) when there is no such token.
	RevokeToken(ctx context.Context, id string, at time.Time, audit []AuditEntry) (Token, error)
	// TouchToken records a use: LastUsedAt becomes at when that is later
	// than the stored one. ErrNotFound when there is no such token.
	TouchToken(ctx context.Context, id string, at time.Time) error
	// HasTokens reports whether any token was ever created (revoked ones
	// count: revoking the last token does not open the API again).
	HasTokens(ctx context.Context) (bool, error)
}
