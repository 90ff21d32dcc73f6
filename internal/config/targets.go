package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Target is a host that a spec makes blackwell connect to (or look up),
// and the field that names it.
type Target struct {
	// Field is the field's path, e.g. spec.resources.site.url.
	Field string
	// Host is a host name or an IP address, without port or brackets.
	Host string
}

// StackTargets lists the hosts a stack spec makes blackwell reach: the
// targets of its probes (http url, tls and tcp address, dns name), its
// providers' settings that are URLs (api_base, integration_api, ...) and
// Shopify's shop, and its build's hook URL (when written literally, not as
// a ${VAR} reference) and CodeBuild endpoint. Fields are in a stable order;
// values that name no host are skipped (validation reports those).
func StackTargets(spec StackSpec) []Target {
	var out []Target
	for _, name := range sortedKeys(spec.Resources) {
		r := spec.Resources[name]
		field := "spec.resources." + name
		switch r.Probe {
		case ProbeHTTP:
			out = appendURL(out, field+".url", r.URL)
		case ProbeTLS, ProbeTCP:
			out = appendHost(out, field+".address", hostPart(r.Address))
		case ProbeDNS:
			out = appendHost(out, field+".name", r.Name)
		}
	}
	for _, role := range sortedKeys(spec.Providers) {
		pb := spec.Providers[role]
		field := "spec.providers." + role
		for _, key := range sortedKeys(pb.Settings) {
			v := strings.TrimSpace(pb.Settings[key])
			switch {
			case strings.Contains(v, "://"):
				out = appendURL(out, field+".settings."+key, v)
			case key == "shop" && v != "":
				// The Shopify driver's host: shop, or shop.myshopify.com.
				if !strings.Contains(v, ".") {
					v += ".myshopify.com"
				}
				out = appendHost(out, field+".settings.shop", hostPart(v))
			}
		}
		if b := pb.Build; b != nil {
			if literal(b.URL) {
				out = appendURL(out, field+".build.url", b.URL.Ref)
			}
			out = appendURL(out, field+".build.endpoint", b.Endpoint)
		}
	}
	return out
}

// PolicyTargets lists the hosts a policy's inline notification channels
// reach: webhook and NATS url, an SNS endpoint, Slack webhook_url when written literally,
// the SMTP host. Channels by ref are the operator's (NotificationChannel
// documents) and are skipped.
func PolicyTargets(spec PolicySpec) []Target {
	var out []Target
	for i, ch := range spec.Notifications.Channels {
		field := fmt.Sprintf("notifications.channels[%d]", i)
		out = appendURL(out, field+".url", ch.URL)
		out = appendURL(out, field+".endpoint", ch.Endpoint)
		if literal(ch.WebhookURL) {
			out = appendURL(out, field+".webhook_url", ch.WebhookURL.Ref)
		}
		if ch.SMTP != nil {
			out = appendHost(out, field+".smtp.host", ch.SMTP.Host)
		}
	}
	return out
}

// literal reports whether a secret is written out rather than referring
// to the environment: only then is its host the writer's to choose.
func literal(s Secret) bool { return s.Ref != "" && !strings.Contains(s.Ref, "${") }

func appendURL(out []Target, field, raw string) []Target {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return out
	}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	return appendHost(out, field, u.Hostname())
}

func appendHost(out []Target, field, host string) []Target {
	host = strings.Trim(strings.TrimSpace(host), "[]")
	if host == "" {
		return out
	}
	return append(out, Target{Field: field, Host: host})
}

// hostPart is the host of host:port, or the whole string without a port.
func hostPart(address string) string {
	if h, _, err := net.SplitHostPort(strings.TrimSpace(address)); err == nil {
		return h
	}
	return address
}
