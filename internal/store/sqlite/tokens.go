package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

const tokenColumns = `id, name, role, client_id, secret_hash, created_at, created_by, last_used_at, revoked_at`

func scanToken(row scanner) (store.Token, error) {
	var (
		t             store.Token
		created       int64
		used, revoked sql.NullInt64
		role          string
	)
	if err := row.Scan(&t.ID, &t.Name, &role, &t.ClientID, &t.SecretHash, &created, &t.CreatedBy, &used, &revoked); err != nil {
		return store.Token{}, translate(err)
	}
	t.Role, t.CreatedAt, t.LastUsedAt, t.RevokedAt = store.Role(role), fromMicros(created), fromNullMicros(used), fromNullMicros(revoked)
	return t, nil
}

// CreateToken stores a new token and appends audit in one transaction.
func (s *Store) CreateToken(ctx context.Context, t store.Token, audit []store.AuditEntry) error {
	if err := store.CheckToken(t); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	if err := store.CheckAudit(audit); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	var out []store.AuditEntry
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, string(t.Role), t.ClientID, t.SecretHash, micros(t.CreatedAt), t.CreatedBy,
			nullMicros(t.LastUsedAt), nullMicros(t.RevokedAt)); err != nil {
			return translate(err)
		}
		var err error
		out, err = s.appendAudit(ctx, tx, audit)
		return err
	})
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	copy(audit, out)
	return nil
}

// GetToken returns a token by id, or store.ErrNotFound.
func (s *Store) GetToken(ctx context.Context, id string) (store.Token, error) {
	return s.oneToken(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, id)
}

// TokenBySecretHash returns the token whose secret hashes to hash, or
// store.ErrNotFound.
func (s *Store) TokenBySecretHash(ctx context.Context, hash string) (store.Token, error) {
	return s.oneToken(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE secret_hash = ?`, hash)
}

func (s *Store) oneToken(ctx context.Context, query string, arg string) (store.Token, error) {
	st, err := s.read(ctx, query)
	if err != nil {
		return store.Token{}, fmt.Errorf("read token: %w", err)
	}
	t, err := scanToken(st.QueryRowContext(ctx, arg))
	if err != nil {
		return store.Token{}, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// ListTokens returns every token, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	st, err := s.read(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes a token (the first revocation stands) and appends
// audit in one transaction.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time, audit []store.AuditEntry) (store.Token, error) {
	if err := store.CheckAudit(audit); err != nil {
		return store.Token{}, fmt.Errorf("revoke token: %w", err)
	}
	var (
		t   store.Token
		out []store.AuditEntry
	)
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRowContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?
RETURNING `+tokenColumns, micros(at), id))
		if err != nil {
			return err
		}
		out, err = s.appendAudit(ctx, tx, audit)
		return err
	})
	if err != nil {
		return store.Token{}, fmt.Errorf("revoke token %s: %w", id, err)
	}
	copy(audit, out)
	return t, nil
}

// TouchToken moves a token's last use forward to at.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?`, micros(at), id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("touch token %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("touch token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// HasTokens reports whether any token was ever created.
func (s *Store) HasTokens(ctx context.Context) (bool, error) {
	st, err := s.read(ctx, `SELECT EXISTS (SELECT 1 FROM tokens)`)
	if err != nil {
		return false, fmt.Errorf("count tokens: %w", err)
	}
	var b int64
	if err := st.QueryRowContext(ctx).Scan(&b); err != nil {
		return false, fmt.Errorf("count tokens: %w", err)
	}
	return b != 0, nil
}
