package shopify

import (
	"net/http"
	"net/url"
	"testing"
)

// FuzzNextLink: any Link header yields "" or a URL on the API's own host,
// never a panic.
func FuzzNextLink(f *testing.F) {
	const base = "https://acme.myshopify.com/admin/api/2025-07"
	f.Add(`<https://acme.myshopify.com/admin/api/2025-07/webhooks.json?page_info=abc&limit=250>; rel="next"`)
	f.Add(`<https://acme.myshopify.com/a?page_info=p>; rel="previous", <https://acme.myshopify.com/a?page_info=n>; rel="next"`)
	f.Add(`<https://evil.example/steal>; rel="next"`)
	f.Add(`</relative?page_info=x>; rel=next`)
	f.Add(`garbage; rel="next"`)
	f.Fuzz(func(t *testing.T, header string) {
		next, err := nextLink([]string{header}, base)
		if err != nil || next == "" {
			return
		}
		u, perr := url.Parse(next)
		if perr != nil || u.Host != "acme.myshopify.com" || u.Scheme != "https" {
			t.Fatalf("next link %q leaves the API host", next)
		}
	})
}

// FuzzCallLimitPause: any call-limit header gives a pause that is not
// negative.
func FuzzCallLimitPause(f *testing.F) {
	for _, s := range []string{"32/40", "40/40", "0/40", "41/40", "x/y", "", "5/0", "-3/40"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := callLimitPause(http.Header{"X-Shopify-Shop-Api-Call-Limit": {v}}, DefaultLeakRate); d < 0 {
			t.Fatalf("negative pause %s for %q", d, v)
		}
		_ = adminErrorMessage([]byte(v))
	})
}
