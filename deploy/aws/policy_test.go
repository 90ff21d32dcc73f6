// Package aws_test checks the AWS deployment files against the code: the
// IAM policy names every AWS action the code calls and nothing more, and
// the CloudFormation template declares the tables, indexes, TTL and topic
// the code expects.
package aws_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"
)

// root is the repository, from this directory.
const root = "../.."

// sdkService is the import path prefix of aws-sdk-go-v2's service clients.
const sdkService = "github.com/aws/aws-sdk-go-v2/service/"

// assumedDynamoDB are the DynamoDB actions the store driver is expected to
// call while internal/store/dynamodb is not in this tree; once it is, its
// source is read instead and the policy must follow it.
var assumedDynamoDB = []string{
	"dynamodb:BatchGetItem", "dynamodb:CreateTable", "dynamodb:DeleteItem",
	"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan",
	"dynamodb:TransactWriteItems", "dynamodb:UpdateItem",
}

// TestPolicyNamesEveryActionTheCodeCalls: the actions of iam-policy.json,
// of the template's role and of docs/AWS.md's policy are each exactly the
// actions the code calls.
func TestPolicyNamesEveryActionTheCodeCalls(t *testing.T) {
	t.Parallel()
	called := calledActions(t)
	require.Contains(t, called, "sns:Publish", "the scan finds the sns channel's call")
	require.Contains(t, called, "codebuild:StartBuild", "the scan finds the codebuild runner's calls")
	if _, err := os.Stat(filepath.Join(root, "internal", "store", "dynamodb")); os.IsNotExist(err) {
		called = append(called, assumedDynamoDB...)
	}
	slices.Sort(called)
	called = slices.Compact(called)

	raw, err := os.ReadFile("iam-policy.json")
	require.NoError(t, err)
	var policy policyDoc
	require.NoError(t, json.Unmarshal(raw, &policy))
	require.Equal(t, called, policy.actions(), "iam-policy.json: want exactly the actions the code calls")

	doc, err := os.ReadFile(filepath.Join(root, "docs", "AWS.md"))
	require.NoError(t, err)
	require.Contains(t, string(doc), strings.TrimSpace(string(raw)), "docs/AWS.md shows iam-policy.json as it is")

	tpl := readTemplate(t)
	var roles int
	for name, r := range tpl.Resources {
		if r.Type != "AWS::IAM::Role" {
			continue
		}
		roles++
		require.Len(t, r.Properties.Policies, 1, name)
		require.Equal(t, called, r.Properties.Policies[0].PolicyDocument.actions(), "template role %s", name)
	}
	require.Equal(t, 1, roles, "the template has the function's role")
}

// calledActions reads every non-test Go file of the repository (test
// helpers and fakes aside) and returns "service:Operation" for each
// operation called on an AWS SDK client: a method call X.Op(...) in a
// package that names the operation's input type (service.OpInput), or a
// paginator service.NewOpPaginator(...).
func calledActions(t *testing.T) []string {
	t.Helper()
	byDir := map[string][]*ast.File{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDir(p, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		byDir[filepath.Dir(p)] = append(byDir[filepath.Dir(p)], f)
		return nil
	})
	require.NoError(t, err)
	var out []string
	for _, files := range byDir {
		out = append(out, packageActions(files)...)
	}
	return out
}

// testSupport are the packages that play AWS, or drive it, only in tests:
// the simulator, dynalite's helper, the store's conformance suite.
var testSupport = []string{"sim", "dynalitetest", "storetest", "testdata"}

// skipDir: VCS and build output, and testSupport.
func skipDir(p, name string) bool {
	if p == root {
		return false
	}
	return strings.HasPrefix(name, ".") || name == "bin" || name == "node_modules" || slices.Contains(testSupport, name)
}

var inputType = regexp.MustCompile(`^([A-Z][A-Za-z0-9]*)Input$`)
var paginator = regexp.MustCompile(`^New([A-Z][A-Za-z0-9]*)Paginator$`)

// packageActions are the actions the files of one package call.
func packageActions(files []*ast.File) []string {
	inputs := map[string]string{} // operation -> IAM service prefix
	calls := map[string]bool{}    // method names called as X.Name(...)
	var out []string
	for _, f := range files {
		services := map[string]string{} // local name -> IAM service prefix
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			svc, ok := strings.CutPrefix(p, sdkService)
			if !ok || strings.Contains(svc, "/") {
				continue
			}
			local := path.Base(p)
			if imp.Name != nil {
				local = imp.Name.Name
			}
			services[local] = svc
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				x, ok := n.X.(*ast.Ident)
				if !ok {
					return true
				}
				if svc, ok := services[x.Name]; ok {
					if m := inputType.FindStringSubmatch(n.Sel.Name); m != nil {
						inputs[m[1]] = svc
					}
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				calls[sel.Sel.Name] = true
				if x, ok := sel.X.(*ast.Ident); ok {
					if m := paginator.FindStringSubmatch(sel.Sel.Name); m != nil && services[x.Name] != "" {
						out = append(out, services[x.Name]+":"+m[1])
					}
				}
			}
			return true
		})
	}
	for op, svc := range inputs {
		if calls[op] {
			out = append(out, svc+":"+op)
		}
	}
	return out
}

// policyDoc is an IAM policy document; Action may be a string or a list.
type policyDoc struct {
	Statement []struct {
		Effect string          `json:"Effect"`
		Action json.RawMessage `json:"Action"`
	} `json:"Statement"`
}

// actions are the policy's allowed actions, sorted.
func (p policyDoc) actions() []string {
	var out []string
	for _, s := range p.Statement {
		if s.Effect != "Allow" {
			continue
		}
		var list []string
		if json.Unmarshal(s.Action, &list) != nil {
			var one string
			_ = json.Unmarshal(s.Action, &one)
			list = []string{one}
		}
		out = append(out, list...)
	}
	slices.Sort(out)
	return out
}

// template is the part of template.yaml checked here.
type template struct {
	Resources map[string]struct {
		Type       string `json:"Type"`
		Properties struct {
			TableName               string           `json:"TableName"`
			TopicName               string           `json:"TopicName"`
			KeySchema               []keyElement     `json:"KeySchema"`
			GlobalSecondaryIndexes  []secondaryIndex `json:"GlobalSecondaryIndexes"`
			TimeToLiveSpecification *struct {
				AttributeName string `json:"AttributeName"`
				Enabled       bool   `json:"Enabled"`
			} `json:"TimeToLiveSpecification"`
			Policies []struct {
				PolicyDocument policyDoc `json:"PolicyDocument"`
			} `json:"Policies"`
		} `json:"Properties"`
	} `json:"Resources"`
}

type keyElement struct {
	AttributeName string `json:"AttributeName"`
	KeyType       string `json:"KeyType"`
}

type secondaryIndex struct {
	IndexName string       `json:"IndexName"`
	KeySchema []keyElement `json:"KeySchema"`
}

// readTemplate reads template.yaml (as JSON, which keeps the policies'
// Action lists raw for policyDoc).
func readTemplate(t *testing.T) template {
	t.Helper()
	raw, err := os.ReadFile("template.yaml")
	require.NoError(t, err)
	js, err := yaml.YAMLToJSON(raw)
	require.NoError(t, err)
	var tpl template
	require.NoError(t, json.Unmarshal(js, &tpl))
	return tpl
}

// TestTemplateDeclaresTheTablesAndTopic: blackwell-state keyed by
// client_id and stack_id; blackwell-event-mirror keyed by event_id with
// the GSIs (client_id, timestamp) and (provider_name, timestamp) and TTL
// on ttl_timestamp; the topic blackwell-drift-events.
func TestTemplateDeclaresTheTablesAndTopic(t *testing.T) {
	t.Parallel()
	tpl := readTemplate(t)
	tables := map[string]int{}
	topics := map[string]bool{}
	for _, r := range tpl.Resources {
		switch r.Type {
		case "AWS::DynamoDB::Table":
			tables[r.Properties.TableName]++
		case "AWS::SNS::Topic":
			topics[r.Properties.TopicName] = true
		}
	}
	require.Equal(t, 1, tables["blackwell-state"])
	require.Equal(t, 1, tables["blackwell-event-mirror"])
	require.True(t, topics["blackwell-drift-events"])
	for _, r := range tpl.Resources {
		p := r.Properties
		switch p.TableName {
		case "blackwell-state":
			require.Equal(t, []keyElement{{"client_id", "HASH"}, {"stack_id", "RANGE"}}, p.KeySchema)
		case "blackwell-event-mirror":
			require.Equal(t, []keyElement{{"event_id", "HASH"}}, p.KeySchema)
			var gsis [][]keyElement
			for _, g := range p.GlobalSecondaryIndexes {
				gsis = append(gsis, g.KeySchema)
			}
			require.ElementsMatch(t, [][]keyElement{
				{{"client_id", "HASH"}, {"timestamp", "RANGE"}},
				{{"provider_name", "HASH"}, {"timestamp", "RANGE"}},
			}, gsis)
			require.NotNil(t, p.TimeToLiveSpecification)
			require.Equal(t, "ttl_timestamp", p.TimeToLiveSpecification.AttributeName)
			require.True(t, p.TimeToLiveSpecification.Enabled)
		}
	}
}
