package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// fuzzSecret is what every variable resolves to while fuzzing; it must
// never show up in an error.
const fuzzSecret = "FUZZ-SECRET-VALUE-7f3a"

func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(examplePath())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example))
	f.Add(yml(okStack))
	f.Add(yml(hashBlock))
	f.Add(yml(hashFlow))
	f.Add(yml(appConfig))
	f.Add(yml(badAppConfig))
	for _, c := range badConfigs() {
		f.Add(yml(c.yaml))
	}
	f.Add("a: &a [*a, *a]\nb: *a\n")
	f.Add("--- |\n  text\n...\n%YAML 1.2\n---\n{}\n")
	f.Add("\xef\xbb\xbfapiVersion: blackwell.io/v1\nkind: Stack\n")
	// Nesting around the limit (maxDepth), in each spelling, and aliases
	// of nested anchors: refused or parsed, never costly.
	f.Add(nestedFlowSeq(maxDepth))
	f.Add(nestedFlowSeq(maxDepth + 1))
	f.Add(nestedFlowMap(maxDepth + 1))
	f.Add(nestedDashes(maxDepth + 1))
	f.Add(nestedBlockMap(maxDepth + 1))
	f.Add("spec: " + nestedFlowSeq(maxDepth-1))
	f.Add("a: &a " + nestedFlowSeq(40) + "b: &b [*a, *a, *a]\nc: [*b, *b, *b, " + nestedFlowSeq(30) + "]\n")
	f.Add(strings.Repeat("[\"]\", ", 70) + "1" + strings.Repeat("]", 70) + "\n")

	getenv := func(string) (string, bool) { return fuzzSecret, true }
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := Parse("fuzz.yaml", []byte(src), getenv)
		if err == nil {
			if cfg == nil {
				t.Fatal("no error and no config")
			}
			for _, s := range cfg.Stacks {
				if _, _, err := Hash(s.Spec); err != nil {
					t.Fatalf("hash of a parsed stack: %v", err)
				}
			}
			return
		}
		if cfg != nil {
			t.Fatal("an error and a config")
		}
		var errs *Errors
		if !errors.As(err, &errs) || len(*errs) == 0 {
			t.Fatalf("error %T is not a non-empty *Errors: %v", err, err)
		}
		// YAML breaks lines at LF, CR LF and a lone CR.
		lines := strings.Count(strings.ReplaceAll(src, "\r\n", "\n"), "\n") + strings.Count(src, "\r") - strings.Count(src, "\r\n") + 1
		for _, e := range *errs {
			if e.File != "fuzz.yaml" || e.Line < 1 || e.Column < 1 || e.Line > lines || e.Message == "" {
				t.Fatalf("error without a position in the input (%d lines): %#v", lines, e)
			}
		}
		if !strings.Contains(src, fuzzSecret) && strings.Contains(err.Error(), fuzzSecret) {
			t.Fatalf("a secret value leaked into an error: %v", err)
		}
	})
}

func FuzzDecodePolicyJSON(f *testing.F) {
	f.Add(`{}`)
	f.Add(`{"schedule": {"interval": "5m"}, "auto_heal": {"enabled": true, "allowed_drift_types": []}}`)
	f.Add(`{"notifications": {"channels": [{"ref": "ops"}, {"type": "slack", "webhook_url": "${X}"}]}}`)
	f.Add("{\n\t\"auto_heal\": {\"max_attempts\": -1}\n}")
	f.Add(`{"a": 1, "a": 2}`)
	f.Add(`[]`)
	f.Add(`{"observability": {"metrics_retention": "\u0033\u0030d"}}`)
	f.Add(`{"predict": {"enabled": true, "notify_lead": "72h", "preempt": ["reregister_subscription", "rebuild"]}}`)
	f.Add(`{"predict": {"notify_lead": "400d", "preempt": ["renew", "rebuild", "rebuild"]}}`)
	f.Fuzz(func(t *testing.T, body string) {
		spec, err := DecodePolicyJSON([]byte(body))
		if err == nil {
			if spec == nil {
				t.Fatal("no error and no spec")
			}
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) || len(*errs) == 0 {
			t.Fatalf("error %T is not a non-empty *Errors: %v", err, err)
		}
	})
}

func FuzzDuration(f *testing.F) {
	for _, s := range []string{"0", "30s", "5m", "1h30m", "30d", "2w", "1.5d", "250ms", "-1s", "1e3s", "9999999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, but its String %q reads back as %v, %v", s, d, d.String(), back, err)
		}
	})
}
