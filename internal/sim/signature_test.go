package sim

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The vectors below are the providers' published examples, as recorded in
// PROVIDERS.md (each reproduced there with the vendor's own library).

func TestShopifySignatureMatchesTheDocsVector(t *testing.T) {
	t.Parallel()
	require.Equal(t, "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=", shopifySignature("hush", []byte(`{"id":1}`)))
}

func TestSanitySignatureMatchesTheToolkitVectors(t *testing.T) {
	t.Parallel()
	require.Equal(t, "t=1633519811129,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0",
		sanitySignature("test", 1633519811129, []byte(`{"_id":"resume"}`)))
	require.Equal(t, "t=1633518820676,v1=e7C9h2sfbFfc4V7TEz7PSOp4IoNzl0UdVsBV-1wgdeA",
		sanitySignature("try-me", 1633518820676, []byte(`{"title":"GROQ-Hooks are neat"}`)))
}

func TestContentfulSignatureMatchesTheToolkitVector(t *testing.T) {
	t.Parallel()
	signed, sig := contentfulSignature(strings.Repeat("a", 64), "POST", "/webhooks/contentful",
		[][2]string{
			{"Content-Type", "application/vnd.contentful.management.v1+json"},
			{"X-Contentful-Topic", "ContentManagement.Entry.publish"},
		}, []byte(`{"sys":{"id":"entry1","type":"Entry"}}`), 1700000000000)
	require.Equal(t, "content-type,x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic", signed)
	require.Equal(t, "06eceb99479dbb025b5b3c35757c9fa9d60693810c489a1bd3e3f92cea627305", sig)
}

func TestContentfulRequestPathQuirk(t *testing.T) {
	t.Parallel()
	u, err := url.Parse("http://h/webhooks/contentful?x=1")
	require.NoError(t, err)
	require.Equal(t, "/webhooks/contentful?x%253D1", contentfulRequestPath(u))
}
