package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/blackwellio/blackwell/internal/store"
)

const tokenColumns = `id, name, role, client_id, secret_hash, created_at, created_by, last_used_at, revoked_at`

func scanToken(row pgx.Row) (store.Token, error) {
	var (
		t    store.Token
		role string
	)
	if err := row.Scan(&t.ID, &t.Name, &role, &t.ClientID, &t.SecretHash, &t.CreatedAt, &t.CreatedBy, &t.LastUsedAt, &t.RevokedAt); err != nil {
		return store.Token{}, translate(err)
	}
	t.Role, t.CreatedAt, t.LastUsedAt, t.RevokedAt = store.Role(role), utc(t.CreatedAt), utcPtr(t.LastUsedAt), utcPtr(t.RevokedAt)
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
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		var head auditHead
		b := tx.batch()
		b.Queue(`INSERT INTO tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			t.ID, t.Name, string(t.Role), t.ClientID, t.SecretHash, ts(t.CreatedAt), t.CreatedBy, tsPtr(t.LastUsedAt), tsPtr(t.RevokedAt)).
			Exec(func(pgconn.CommandTag) error { return nil })
		if len(audit) == 0 {
			return tx.commit(ctx, b)
		}
		head.queue(b, len(audit))
		if err := tx.send(ctx, b); err != nil {
			return err
		}
		b = tx.batch()
		out = s.queueAudit(b, head, audit)
		return tx.commit(ctx, b)
	})
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, translate(err))
	}
	copy(audit, out)
	return nil
}

// GetToken returns a token by id, or store.ErrNotFound.
func (s *Store) GetToken(ctx context.Context, id string) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = $1`, id))
	if err != nil {
		return store.Token{}, fmt.Errorf("read token %s: %w", id, err)
	}
	return t, nil
}

// TokenBySecretHash returns the token whose secret hashes to hash, or
// store.ErrNotFound.
func (s *Store) TokenBySecretHash(ctx context.Context, hash string) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE secret_hash = $1`, hash))
	if err != nil {
		return store.Token{}, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// ListTokens returns every token, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	out, err := collectRows(rows, func(row pgx.CollectableRow) (store.Token, error) { return scanToken(row) })
	if err != nil {
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
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		var head auditHead
		b := tx.batch()
		b.Queue(`UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING `+tokenColumns, ts(at), id).
			QueryRow(func(row pgx.Row) error {
				var err error
				t, err = scanToken(row)
				return err
			})
		if len(audit) == 0 {
			return tx.commit(ctx, b)
		}
		head.queue(b, len(audit))
		if err := tx.send(ctx, b); err != nil {
			return err
		}
		b = tx.batch()
		out = s.queueAudit(b, head, audit)
		return tx.commit(ctx, b)
	})
	if err != nil {
		return store.Token{}, fmt.Errorf("revoke token %s: %w", id, translate(err))
	}
	copy(audit, out)
	return t, nil
}

// TouchToken moves a token's last use forward to at.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	var n int64
	err := s.retry(ctx, func() error {
		ct, err := s.pool.Exec(ctx, `UPDATE tokens SET last_used_at = GREATEST(last_used_at, $1) WHERE id = $2`, ts(at), id)
		n = ct.RowsAffected()
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
	var b bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tokens)`).Scan(&b); err != nil {
		return false, fmt.Errorf("count tokens: %w", err)
	}
	return b, nil
}
