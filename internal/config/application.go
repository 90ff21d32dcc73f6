package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// An application is the stacks of one client that share an app name, one
// stack per environment (dev, staging, prod). Its Pipeline orders the
// environments; without one, DefaultPipeline applies.

// AppOf is the application a stack belongs to: app when written
// (metadata.app), else the stack id without its environment suffix. The
// suffix is "-" followed by the stack's environment, removed only when the
// stack id ends with it and something is left before it: "shop-prod" in
// prod is "shop", "shop" in prod is "shop", "shop-staging" in prod is
// "shop-staging", and any stack without an environment is its own
// application.
func AppOf(stackID, environment, app string) string {
	if app != "" {
		return app
	}
	if environment == "" {
		return stackID
	}
	if base, ok := strings.CutSuffix(stackID, "-"+environment); ok && base != "" {
		return base
	}
	return stackID
}

// Pipeline is a document of kind Pipeline: the order of an application's
// environments, the soak time of each and whether promotion into it is
// automatic or needs approval.
type Pipeline struct {
	APIVersion string       `json:"apiVersion" yaml:"apiVersion"`
	Kind       string       `json:"kind" yaml:"kind"`
	Metadata   PipelineMeta `json:"metadata" yaml:"metadata"`
	Spec       PipelineSpec `json:"spec" yaml:"spec"`
}

// PipelineMeta names the application a pipeline orders.
type PipelineMeta struct {
	ClientID string `json:"client_id" yaml:"client_id" jsonschema:"required"`
	App      string `json:"app" yaml:"app" jsonschema:"required"`
}

// PipelineSpec lists the stages, first to last.
type PipelineSpec struct {
	Stages []Stage `json:"stages" yaml:"stages" jsonschema:"required,minItems=1"`
}

// The approval settings of a stage.
const (
	ApprovalRequired = "required"
	ApprovalNone     = "none"
)

// Stage is one environment of a pipeline.
type Stage struct {
	Environment string `json:"environment" yaml:"environment" jsonschema:"required,enum=dev,enum=staging,enum=prod"`
	// Soak is how long a release must have been in this environment, its
	// last pass verified, before it may be promoted out of it.
	Soak Duration `json:"soak,omitempty" yaml:"soak"`
	// AutoPromote promotes into this environment without being asked once
	// the previous stage's release has soaked (never into a pinned stack,
	// and never past a required approval).
	AutoPromote bool `json:"auto_promote,omitempty" yaml:"auto_promote"`
	// Approval is required or none for promotions into this environment;
	// unset, required for prod and none elsewhere.
	Approval string `json:"approval,omitempty" yaml:"approval" jsonschema:"enum=required,enum=none"`
}

// NeedsApproval says whether a promotion into the stage needs a person's
// approval.
func (s Stage) NeedsApproval() bool {
	if s.Approval == "" {
		return s.Environment == "prod"
	}
	return s.Approval == ApprovalRequired
}

// DefaultPipeline is the pipeline of an application that declares none:
// dev, staging, prod, no soak, no auto-promotion, approval for prod.
func DefaultPipeline(clientID, app string) Pipeline {
	p := Pipeline{APIVersion: APIVersion, Kind: KindPipeline, Metadata: PipelineMeta{ClientID: clientID, App: app}}
	for _, env := range environments() {
		p.Spec.Stages = append(p.Spec.Stages, Stage{Environment: env})
	}
	return p
}

// StageOf returns the stage of an environment and its index, or -1.
func (p PipelineSpec) StageOf(environment string) (Stage, int) {
	for i, s := range p.Stages {
		if s.Environment == environment {
			return s, i
		}
	}
	return Stage{}, -1
}

// overrideRoots are the top-level fields of a composition an override may
// name.
func overrideRoots() []string {
	return []string{"providers", "integrations", "resources", "content_types"}
}

// overrideSegment is the syntax of one segment of an override path.
var overrideSegment = regexp.MustCompile(`^[A-Za-z0-9_-]{1,63}$`)

// overridePattern is the syntax of an override path for the schema
// (CheckOverridePath is the authority).
func overridePattern() string {
	return `^(` + strings.Join(overrideRoots(), "|") + `)(\.[A-Za-z0-9_-]{1,63}){0,3}$`
}

// maxOverrideDepth bounds an override path: providers.ROLE.settings.KEY.
const maxOverrideDepth = 4

// CheckOverridePath says what is wrong with an override path, or "".
// A path is dot-separated field names starting at a field of spec:
// providers, integrations, resources or content_types.
func CheckOverridePath(path string) string {
	segs := strings.Split(path, ".")
	if !slices.Contains(overrideRoots(), segs[0]) {
		return fmt.Sprintf("%q must start with %s", path, oneOf(overrideRoots()))
	}
	if len(segs) > maxOverrideDepth {
		return fmt.Sprintf("%q is deeper than %d fields", path, maxOverrideDepth)
	}
	for _, s := range segs {
		if !overrideSegment.MatchString(s) {
			return fmt.Sprintf("%q is not a path of field names separated by '.'", path)
		}
	}
	return ""
}

// Overridden says whether the field at path (dot-separated) is covered by
// one of overrides: an override covers its field and everything under it.
func Overridden(path string, overrides []string) bool {
	for _, o := range overrides {
		if path == o || strings.HasPrefix(path, o+".") {
			return true
		}
	}
	return false
}

// checkPipeline validates one Pipeline document.
func (r reporter) checkPipeline(p *Pipeline) {
	r.checkID("metadata.client_id", p.Metadata.ClientID, true)
	r.checkID("metadata.app", p.Metadata.App, true)
	if len(p.Spec.Stages) == 0 {
		r.value("spec.stages", "must list at least one stage")
	}
	seen := map[string]int{}
	for i, s := range p.Spec.Stages {
		base := fmt.Sprintf("spec.stages[%d]", i)
		r.checkEnum(base+".environment", s.Environment, environments(), true)
		if first, dup := seen[s.Environment]; dup && s.Environment != "" {
			r.value(base+".environment", "environment %q is already stage %d", s.Environment, first)
		}
		seen[s.Environment] = i
		r.checkEnum(base+".approval", s.Approval, []string{ApprovalRequired, ApprovalNone}, false)
		if s.Soak < 0 {
			r.value(base+".soak", "must not be negative")
		}
		if i == 0 && s.AutoPromote {
			r.value(base+".auto_promote", "the first stage has no stage before it to promote from")
		}
	}
}

// checkOverrides validates a composition's overrides.
func (r reporter) checkOverrides(base string, s *StackSpec) {
	r.checkList(base+".overrides", s.Overrides, nil)
	for i, o := range s.Overrides {
		if o == "" {
			continue
		}
		if msg := CheckOverridePath(o); msg != "" {
			r.value(fmt.Sprintf("%s.overrides[%d]", base, i), "%s", msg)
		}
	}
}

// appChecks finds two stacks of one application in one environment, an
// explicit app without an environment, pipelines declared twice and
// stacks in an environment their application's pipeline does not list.
func (p *fileParser) appChecks() {
	type envKey struct{ client, app, env string }
	members := map[envKey]reporter{}
	apps := map[string][]parsedDoc[Stack]{}
	for _, s := range p.stacks {
		m := s.v.Metadata
		if m.ClientID == "" || m.StackID == "" {
			continue
		}
		if m.App != "" && m.Environment == "" {
			s.r.value("metadata.app", "a stack of an application needs metadata.environment")
			continue
		}
		if m.Environment == "" {
			continue
		}
		app := AppOf(m.StackID, m.Environment, m.App)
		k := envKey{m.ClientID, app, m.Environment}
		if first, dup := members[k]; dup {
			s.r.value("metadata.environment", "application %s/%s already has its %s stack at %s", m.ClientID, app, m.Environment, first.where("metadata.stack_id"))
			continue
		}
		members[k] = s.r
		apps[m.ClientID+"/"+app] = append(apps[m.ClientID+"/"+app], s)
	}
	pipelines := map[string]reporter{}
	for _, pl := range p.pipelines {
		m := pl.v.Metadata
		if m.ClientID == "" || m.App == "" {
			continue
		}
		key := m.ClientID + "/" + m.App
		if first, dup := pipelines[key]; dup {
			pl.r.value("metadata.app", "a Pipeline for %s is already declared at %s", key, first.where("metadata.app"))
			continue
		}
		pipelines[key] = pl.r
		for _, s := range apps[key] {
			if _, i := pl.v.Spec.StageOf(s.v.Metadata.Environment); i < 0 {
				s.r.value("metadata.environment", "the Pipeline of %s (%s) has no stage %q", key, pl.r.where("metadata.app"), s.v.Metadata.Environment)
			}
		}
	}
}
