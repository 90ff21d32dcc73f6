package build_test

import (
	"testing"

	"github.com/blackwellio/blackwell/internal/build"
)

// FuzzParseLive: a host's answer, whatever it holds, is read without a
// panic, and a deployment read back has the id the answer gave.
func FuzzParseLive(f *testing.F) {
	f.Add("netlify", []byte(`{"id":"s","published_deploy":{"id":"d1","commit_ref":"c1"}}`))
	f.Add("vercel", []byte(`{"id":"p","targets":{"production":{"id":"dpl_1","meta":{"githubCommitSha":"c"}}}}`))
	f.Add("vercel", []byte(`{"targets":{"production":null}}`))
	f.Add("cloudflare", []byte(`{"success":true,"result":{"canonical_deployment":{"id":"x","deployment_trigger":{"metadata":{"commit_hash":"c"}}}}}`))
	f.Add("cloudflare", []byte(`{"result":null}`))
	f.Add("netlify", []byte(`<html>`))
	f.Fuzz(func(t *testing.T, host string, body []byte) {
		d, err := build.ParseLive(host, body)
		if err != nil && d.ID != "" {
			t.Fatalf("an error with a deployment: %v %+v", err, d)
		}
	})
}
