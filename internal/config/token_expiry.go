package config

import (
	"fmt"
	"strings"
	"time"
)

// SettingTokenExpiresAt is the provider setting that declares when the
// binding's token (its credentials) stops working: an RFC 3339 time or a
// date (YYYY-MM-DD, read as the start of that day, UTC). No provider
// Blackwell talks to tells the expiry of the token it holds (a Contentful
// personal access token, for one, is created with an expiry its holder
// cannot read back), so the operator may declare it; the token_expiry
// forecast reads it.
const SettingTokenExpiresAt = "token_expires_at"

// TokenExpiresAt reads b's settings.token_expires_at: the zero time and
// no error when it is not set.
func (b ProviderBinding) TokenExpiresAt() (time.Time, error) {
	v, ok := b.Settings[SettingTokenExpiresAt]
	if !ok {
		return time.Time{}, nil
	}
	return parseExpiry(v)
}

func parseExpiry(v string) (time.Time, error) {
	s := strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or a date (YYYY-MM-DD)", v)
}
