package main

// The pieces of the CLI grammar (docs/CLI.md, "CLI grammar") that every
// command shares: its target (CLIENT, CLIENT/STACK), the old spellings
// kept for one release as hidden aliases that warn, and which flags read
// BLACKWELL_* variables.

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// target is the CLIENT or CLIENT/STACK a command works on.
type target struct{ client, stack string }

func (t target) String() string {
	if t.stack == "" {
		return t.client
	}
	return t.client + "/" + t.stack
}

// query is the target as the API's list filters: client_id, stack_id.
func (t target) query() url.Values {
	q := url.Values{}
	if t.client != "" {
		q.Set("client_id", t.client)
	}
	if t.stack != "" {
		q.Set("stack_id", t.stack)
	}
	return q
}

// targetKind says which targets a command takes.
type targetKind int

const (
	// clientTarget: CLIENT, a command about a whole client.
	clientTarget targetKind = iota
	// stackTarget: CLIENT/STACK, a command about one stack.
	stackTarget
	// eitherTarget: CLIENT[/STACK].
	eitherTarget
)

// targetArgs describes a command's positional arguments: a target,
// optional or not, then extra arguments.
type targetArgs struct {
	kind     targetKind
	optional bool
	// extra is how many arguments follow the target.
	extra int
	// splitForm: the old spelling CLIENT STACK is accepted for
	// CLIENT/STACK, with a warning (status, reconcile, rollback).
	splitForm bool
	// flagClient is the value of the old --client flag (clientFlag), which
	// stands for the target: the positional one must then be absent.
	flagClient *string
}

// clientFlag adds the old spelling --client C of the target, hidden and
// warning.
func (ta *targetArgs) clientFlag(g *globals, cmd *cobra.Command, path string) {
	ta.flagClient = new(string)
	g.aliasVar(cmd, stringVar{ta.flagClient}, nil, "", "client", "", path+" --client C", path+" C")
}

// withFlagClient puts the old --client flag's value in place of the
// target.
func (ta *targetArgs) withFlagClient(args []string) ([]string, error) {
	if ta.flagClient == nil || *ta.flagClient == "" {
		return args, nil
	}
	if len(args) > ta.extra {
		return nil, usageError{errors.New("give the client once: as CLIENT, not also with --client")}
	}
	return append([]string{*ta.flagClient}, args...), nil
}

// joinSplit turns the old spelling CLIENT STACK [ARGS] into CLIENT/STACK
// [ARGS]; it reports whether it did.
func (ta *targetArgs) joinSplit(args []string) ([]string, bool) {
	if !ta.splitForm || len(args) != ta.extra+2 || strings.Contains(args[0], "/") || strings.Contains(args[1], "/") {
		return args, false
	}
	return append([]string{args[0] + "/" + args[1]}, args[2:]...), true
}

// validate is the cobra.PositionalArgs of the command: it checks the
// count and the target's shape, and warns once about the old split form.
func (ta *targetArgs) validate(g *globals) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		joined, split := ta.joinSplit(args)
		if _, _, err := ta.parse(cmd, joined); err != nil {
			return err
		}
		if split {
			old := append([]string{cmd.Name()}, ta.placeholder(true)...)
			now := append([]string{cmd.Name()}, ta.placeholder(false)...)
			g.deprecated(strings.Join(old, " "), strings.Join(now, " "))
		}
		return nil
	}
}

// placeholder is the target's usage words, in the old split form or not.
func (ta *targetArgs) placeholder(split bool) []string {
	if split {
		return []string{"CLIENT", "STACK", "..."}[:2+min(ta.extra, 1)]
	}
	out := []string{"CLIENT/STACK"}
	if ta.extra > 0 {
		out = append(out, "...")
	}
	return out
}

// parse returns the target (zero when optional and absent) and the extra
// arguments.
func (ta *targetArgs) parse(cmd *cobra.Command, args []string) (target, []string, error) {
	args, err := ta.withFlagClient(args)
	if err != nil {
		return target{}, nil, err
	}
	args, _ = ta.joinSplit(args)
	lo, hi := ta.extra+1, ta.extra+1
	if ta.optional {
		lo = ta.extra
	}
	if len(args) < lo || len(args) > hi {
		return target{}, nil, usageError{fmt.Errorf("%s wants %s", cmd.Name(), usageArgs(cmd))}
	}
	if len(args) == ta.extra {
		return target{}, args, nil
	}
	t, err := parseTarget(cmd.Name(), args[0], ta.kind)
	return t, args[1:], err
}

// usageArgs is the positional part of a command's Use line.
func usageArgs(cmd *cobra.Command) string {
	_, rest, _ := strings.Cut(cmd.Use, " ")
	var words []string
	for _, w := range strings.Fields(rest) {
		if strings.HasPrefix(strings.TrimLeft(w, "[("), "-") {
			break
		}
		words = append(words, w)
	}
	if len(words) == 0 {
		return "no arguments"
	}
	return strings.Join(words, " ")
}

// parseTarget reads CLIENT or CLIENT/STACK as kind allows.
func parseTarget(command, arg string, kind targetKind) (target, error) {
	client, stack, slash := strings.Cut(arg, "/")
	if client == "" || slash && (stack == "" || strings.Contains(stack, "/")) {
		return target{}, usageError{fmt.Errorf("%s: %q is neither CLIENT nor CLIENT/STACK", command, arg)}
	}
	switch {
	case kind == stackTarget && !slash:
		return target{}, usageError{fmt.Errorf("%s wants CLIENT/STACK, not %q", command, arg)}
	case kind == clientTarget && slash:
		return target{}, usageError{fmt.Errorf("%s covers a whole client: give CLIENT, not %q", command, arg)}
	}
	return target{client: client, stack: stack}, nil
}

// deprecated warns, on stderr, that an old spelling goes in the next
// release.
func (g *globals) deprecated(old, now string) {
	fmt.Fprintf(g.stderr, "blackwell: %q is deprecated and goes in the next release: write %q\n", old, now)
}

// aliasValue is the value of a hidden second spelling of a flag: it sets
// the same variable and calls used first.
type aliasValue struct {
	pflag.Value
	used func()
}

func (a aliasValue) Set(s string) error {
	a.used()
	return a.Value.Set(s)
}

// alias adds name (with shorthand, when not empty) to cmd as a hidden
// second spelling of the command's flag named flag. With old and now set,
// using it warns that old goes and now replaces it; without, it is a
// plain synonym.
func (g *globals) alias(cmd *cobra.Command, flag, name, shorthand, old, now string) {
	t := cmd.Flags().Lookup(flag)
	if t == nil {
		panic("alias of unknown flag --" + flag) // a wiring mistake, found by any test of the command
	}
	g.aliasVar(cmd, t.Value, func() { t.Changed = true }, t.NoOptDefVal, name, shorthand, old, now)
}

// aliasVar adds a hidden flag name (with shorthand) that sets v, calling
// used (when not nil) each time; old and now as alias says.
func (g *globals) aliasVar(cmd *cobra.Command, v pflag.Value, used func(), noOptDefVal, name, shorthand, old, now string) {
	warned := false
	fl := cmd.Flags().VarPF(aliasValue{Value: v, used: func() {
		if used != nil {
			used()
		}
		if old != "" && !warned {
			warned = true
			g.deprecated(old, now)
		}
	}}, name, shorthand, "")
	fl.NoOptDefVal = noOptDefVal
	fl.Hidden = true
}

// stringVar is a pflag.Value over a string variable, for an alias that
// sets a variable no flag of the command owns (a target, a global flag).
type stringVar struct{ p *string }

func (s stringVar) Set(v string) error { *s.p = v; return nil }
func (s stringVar) String() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}
func (stringVar) Type() string { return "string" }

// envSetting reports whether a command's flag of this name reads
// BLACKWELL_<FLAG>: only the server's settings, which mean the same in
// every command that has them (docs/CLI.md, rule 6). A flag that says
// what one command does never does.
func envSetting(name string) bool {
	switch name {
	case "config", "store", "listen", "public-url", "encryption-key-file", "audit-key-file",
		"egress-allow", "allow-command-builds", "credential-hosts", "client-secret-prefix":
		return true
	}
	return false
}

// envName is the variable of a flag: BLACKWELL_<FLAG>, dashes as
// underscores.
func envName(flag string) string {
	return "BLACKWELL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// bindEnv gives each setting flag of f (envSetting) that is not set on the
// command line the value of its BLACKWELL_<FLAG>, when that is set.
func bindEnv(f *pflag.FlagSet) {
	bindEnvOf(f, envSetting)
}

// bindServeEnv binds every flag of serve: a service is configured by its
// environment.
func bindServeEnv(f *pflag.FlagSet) {
	bindEnvOf(f, func(string) bool { return true })
}

func bindEnvOf(f *pflag.FlagSet, bind func(string) bool) {
	f.VisitAll(func(fl *pflag.Flag) {
		if fl.Hidden || !bind(fl.Name) {
			return
		}
		name := envName(fl.Name)
		fl.Usage += " (" + name + ")"
		if v, ok := os.LookupEnv(name); ok {
			// Flags parsed later from the command line override this.
			_ = fl.Value.Set(v)
			fl.DefValue = v
		}
	})
}

// read is how a command that reads from the API starts: its target, whether
// -o json was asked for, and the API client.
func (ta *targetArgs) read(cmd *cobra.Command, args []string, g *globals) (target, bool, *apiClient, error) {
	t, _, asJSON, c, err := ta.readArgs(cmd, args, g)
	return t, asJSON, c, err
}

// readArgs is read that also answers the arguments after the target.
func (ta *targetArgs) readArgs(cmd *cobra.Command, args []string, g *globals) (target, []string, bool, *apiClient, error) {
	t, rest, err := ta.parse(cmd, args)
	if err != nil {
		return target{}, nil, false, nil, err
	}
	asJSON, err := g.jsonOutput()
	if err != nil {
		return target{}, nil, false, nil, err
	}
	c, err := g.client()
	if err != nil {
		return target{}, nil, false, nil, err
	}
	return t, rest, asJSON, c, nil
}
