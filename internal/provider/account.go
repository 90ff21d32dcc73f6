package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// AccountKey names a provider account for rate limits and shared
// listings: the provider, the account (Shopify shop, Sanity project,
// Contentful space, Integration API client) and a hash of the credential,
// so two tokens of one account (two apps, two buckets) are two keys. The
// credential itself never appears in a key; keys are not printed either.
func AccountKey(provider, account, credential string) string {
	sum := sha256.Sum256([]byte(credential))
	return strings.ToLower(provider) + "|" + strings.ToLower(strings.TrimSpace(account)) + "|" + hex.EncodeToString(sum[:8])
}

// healKey marks a context as a heal's.
type healKey struct{}

// ForHeal marks ctx as a heal's: every API call made under it (its reads
// too) goes ahead of observation reads waiting in the same account's rate
// limit, and listings made under it are fresh, never a shared one.
func ForHeal(ctx context.Context) context.Context {
	return context.WithValue(ctx, healKey{}, true)
}

// IsHeal reports whether ctx was marked by ForHeal.
func IsHeal(ctx context.Context) bool {
	v, _ := ctx.Value(healKey{}).(bool)
	return v
}
