package compliance

import (
	"slices"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	celtypes "cel.dev/cel-go/common/types"
)

// A rule that reads the stack reads only some of its fields: "every
// provider's secrets are references" reads the providers' roles, their
// webhook secrets and credentials, and nothing of the integrations or the
// resources. Its outcome is a function of those fields alone, so it is
// judged once for every stack whose projection on them is the same (and
// whose policy and observation are, if it reads them): stacks differ by
// their URLs and names far more often than by the shape of their
// providers.
//
// Which fields a rule reads is read off its checked expression: a field of
// a view is read only by selecting it (stack.providers, p.credentials,
// has(r.url)). A rule that uses a view's value in any other way than
// selecting its fields, indexing it, iterating over it, taking its size or
// testing a key's presence (comparing two providers, building a list of
// them, passing one to a function) is not shared at all.

// fieldMask is a set of the fields of the stack's views.
type fieldMask uint32

// The fields of the stack's views, by type.
const (
	fStackClientID fieldMask = 1 << iota
	fStackStackID
	fStackEnvironment
	fStackProviders
	fStackIntegrations
	fStackResources
	fStackContentTypes
	fProviderName
	fProviderSettings
	fProviderWebhookSecrets
	fProviderCredentials
	fProviderBuildDriver
	fSecretEnvReference
	fIntegrationProvider
	fIntegrationTopics
	fIntegrationFilter
	fResourceProbe
	fResourceURL
	fResourceAddress
	fResourceName
	fResourceExpectStatus
	fResourceMinDaysValid
)

// viewFields are the fields of the stack's views by CEL type and JSON
// name (TestViewFieldsCoverEveryField).
var viewFields = map[string]map[string]fieldMask{
	"compliance.StackView": {"client_id": fStackClientID, "stack_id": fStackStackID, "environment": fStackEnvironment,
		"providers": fStackProviders, "integrations": fStackIntegrations, "resources": fStackResources, "content_types": fStackContentTypes},
	"compliance.ProviderView": {"name": fProviderName, "settings": fProviderSettings, "webhook_secrets": fProviderWebhookSecrets,
		"credentials": fProviderCredentials, "build_driver": fProviderBuildDriver},
	"compliance.SecretView":      {"env_reference": fSecretEnvReference},
	"compliance.IntegrationView": {"provider": fIntegrationProvider, "topics": fIntegrationTopics, "filter": fIntegrationFilter},
	"compliance.ResourceView": {"probe": fResourceProbe, "url": fResourceURL, "address": fResourceAddress, "name": fResourceName,
		"expect_status": fResourceExpectStatus, "min_days_valid": fResourceMinDaysValid},
}

// holdsView reports whether a value of type t is, or holds, one of the
// stack's views.
func holdsView(t *celtypes.Type) bool {
	if t == nil {
		return false
	}
	if _, ok := viewFields[t.TypeName()]; ok && t.Kind() == celtypes.StructKind {
		return true
	}
	for _, p := range t.Parameters() {
		if holdsView(p) {
			return true
		}
	}
	return false
}

// stackFieldsOf is the set of the stack's fields a checked expression
// reads, and whether its outcome depends on them alone (every use of a
// view is one of those above).
func stackFieldsOf(a *cel.Ast) (fieldMask, bool) {
	native := a.NativeRep()
	var mask fieldMask
	for _, n := range celast.MatchDescendants(celast.NavigateAST(native), celast.AllMatcher()) {
		t := n.Type()
		if t == nil || t.Kind() == celtypes.ErrorKind {
			return 0, false // not checked: share nothing
		}
		if !holdsView(t) {
			continue
		}
		parent, ok := n.Parent()
		if !ok {
			return 0, false
		}
		switch parent.Kind() {
		case celast.SelectKind:
			// Selecting a field of a view (or a key of a map, stack.providers.cms).
			if t.Kind() == celtypes.StructKind {
				f, ok := viewFields[t.TypeName()][parent.AsSelect().FieldName()]
				if !ok {
					return 0, false
				}
				mask |= f
			}
		case celast.ComprehensionKind:
			if parent.AsComprehension().IterRange().ID() != n.ID() {
				return 0, false // an accumulator of views
			}
		case celast.CallKind:
			call := parent.AsCall()
			args := call.Args()
			if call.IsMemberFunction() {
				args = append([]celast.Expr{call.Target()}, args...)
			}
			switch {
			case call.FunctionName() == operators.Index && len(args) == 2 && args[0].ID() == n.ID():
			case call.FunctionName() == overloads.Size && len(args) == 1:
			case call.FunctionName() == operators.In && len(args) == 2 && args[1].ID() == n.ID() && t.Kind() == celtypes.MapKind:
			default:
				return 0, false
			}
		default:
			return 0, false
		}
	}
	return mask, true
}

// appendProjected appends to b an encoding of the fields of the view in
// mask, maps in the order of their keys: equal for views whose fields in
// mask are equal, different otherwise. A map's keys and a list's length
// are always in it (a rule that iterates over it sees them).
// keys is scratch space for the maps' keys, which it may grow.
func (v StackView) appendProjected(b []byte, m fieldMask, keys *[]string) []byte {
	if m&fStackClientID != 0 {
		b = keyStr(b, v.ClientID)
	}
	if m&fStackStackID != 0 {
		b = keyStr(b, v.StackID)
	}
	if m&fStackEnvironment != 0 {
		b = keyStr(b, v.Environment)
	}
	if m&fStackProviders != 0 {
		b = keyNum(b, int64(len(v.Providers)))
		roles := sortedKeys(keys, v.Providers)
		for _, role := range roles {
			b = keyStr(b, role)
			b = v.Providers[role].appendProjected(b, m, keys)
		}
		*keys = (*keys)[:len(*keys)-len(roles)]
	}
	if m&fStackIntegrations != 0 {
		b = keyNum(b, int64(len(v.Integrations)))
		names := sortedKeys(keys, v.Integrations)
		for _, name := range names {
			in := v.Integrations[name]
			b = keyStr(b, name)
			if m&fIntegrationProvider != 0 {
				b = keyStr(b, in.Provider)
			}
			if m&fIntegrationTopics != 0 {
				b = keyList(b, in.Topics)
			}
			if m&fIntegrationFilter != 0 {
				b = keyStr(b, in.Filter)
			}
		}
		*keys = (*keys)[:len(*keys)-len(names)]
	}
	if m&fStackResources != 0 {
		b = keyNum(b, int64(len(v.Resources)))
		names := sortedKeys(keys, v.Resources)
		for _, name := range names {
			r := v.Resources[name]
			b = keyStr(b, name)
			if m&fResourceProbe != 0 {
				b = keyStr(b, r.Probe)
			}
			if m&fResourceURL != 0 {
				b = keyStr(b, r.URL)
			}
			if m&fResourceAddress != 0 {
				b = keyStr(b, r.Address)
			}
			if m&fResourceName != 0 {
				b = keyStr(b, r.Name)
			}
			if m&fResourceExpectStatus != 0 {
				b = keyNum(b, int64(r.ExpectStatus))
			}
			if m&fResourceMinDaysValid != 0 {
				b = keyNum(b, int64(r.MinDaysValid))
			}
		}
		*keys = (*keys)[:len(*keys)-len(names)]
	}
	if m&fStackContentTypes != 0 {
		b = keyList(b, v.ContentTypes)
	}
	return b
}

func (p ProviderView) appendProjected(b []byte, m fieldMask, keys *[]string) []byte {
	if m&fProviderName != 0 {
		b = keyStr(b, p.Name)
	}
	if m&fProviderSettings != 0 {
		b = keyNum(b, int64(len(p.Settings)))
		ks := sortedKeys(keys, p.Settings)
		for _, k := range ks {
			b = keyStr(b, k)
			b = keyStr(b, p.Settings[k])
		}
		*keys = (*keys)[:len(*keys)-len(ks)]
	}
	if m&fProviderWebhookSecrets != 0 {
		b = keyNum(b, int64(len(p.WebhookSecrets)))
		if m&fSecretEnvReference != 0 {
			for _, s := range p.WebhookSecrets {
				b = keyBool(b, s.EnvReference)
			}
		}
	}
	if m&fProviderCredentials != 0 {
		b = keyNum(b, int64(len(p.Credentials)))
		ks := sortedKeys(keys, p.Credentials)
		for _, k := range ks {
			b = keyStr(b, k)
			if m&fSecretEnvReference != 0 {
				b = keyBool(b, p.Credentials[k].EnvReference)
			}
		}
		*keys = (*keys)[:len(*keys)-len(ks)]
	}
	if m&fProviderBuildDriver != 0 {
		b = keyStr(b, p.BuildDriver)
	}
	return b
}

// sortedKeys appends a map's keys to *keys and returns them sorted; the
// caller truncates *keys by as many when done with them. The keys stay
// valid while later calls append (a grown array leaves them in the old
// one), so nested maps share the scratch space.
func sortedKeys[V any](keys *[]string, m map[string]V) []string {
	start := len(*keys)
	for k := range m {
		*keys = append(*keys, k)
	}
	out := (*keys)[start:]
	slices.Sort(out)
	return out
}
