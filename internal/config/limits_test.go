package config

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// nested returns YAML nested depth levels deep, in several spellings.
func nestedFlowSeq(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n"
}
func nestedFlowMap(depth int) string {
	return strings.Repeat("{a: ", depth) + "1" + strings.Repeat("}", depth) + "\n"
}
func nestedDashes(depth int) string { return strings.Repeat("- ", depth) + "x\n" }
func nestedBlockMap(depth int) string {
	var b strings.Builder
	for i := range depth {
		b.WriteString(strings.Repeat(" ", i) + "k:\n")
	}
	return b.String()
}

// TestParseRefusesDeepNesting: a document nested deeper than maxDepth is
// refused before the YAML parser builds it, with a position.
func TestParseRefusesDeepNesting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		src  string
		deep bool
	}{
		{"flow list 60", nestedFlowSeq(60), false},
		{"flow list 65", nestedFlowSeq(65), true},
		{"flow map 65", nestedFlowMap(65), true},
		{"dashes 60", nestedDashes(60), false},
		{"dashes 65", nestedDashes(65), true},
		{"block map 60", nestedBlockMap(60), false},
		{"block map 65", nestedBlockMap(65), true},
		{"mixed", nestedBlockMap(40) + strings.Repeat(" ", 40) + "k: " + nestedFlowSeq(30), true},
		{"quoted brackets are text", "k: \"" + strings.Repeat("[", 200) + "\"\n", false},
		{"commented brackets are text", "k: 1 # " + strings.Repeat("[", 200) + "\n", false},
		{"closers in strings do not hide depth", strings.Repeat("[\"]\", ", 70) + "1" + strings.Repeat("]", 70) + "\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("deep.yaml", []byte(c.src), nil)
			require.Error(t, err) // none of these is a valid blackwell.yaml
			var errs *Errors
			require.True(t, errors.As(err, &errs))
			deep := strings.Contains(err.Error(), "nested deeper than")
			require.Equal(t, c.deep, deep, "%v", err)
			for _, e := range *errs {
				require.Equal(t, "deep.yaml", e.File)
				require.GreaterOrEqual(t, e.Line, 1)
			}
		})
	}
}

// TestParseRefusesHugeDocuments: one document larger than
// maxDocumentBytes is refused unparsed; a file of many small documents is
// not.
func TestParseRefusesHugeDocuments(t *testing.T) {
	t.Parallel()
	big := "k: \"" + strings.Repeat("x", maxDocumentBytes) + "\"\n"
	_, err := Parse("big.yaml", []byte(big), nil)
	require.ErrorContains(t, err, "larger than")

	many := strings.Repeat("---\n"+yml(okStack)+"\n", 1)
	_, err = Parse("many.yaml", []byte(many), nil)
	require.NotContains(t, errString(err), "larger than")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestParseBombsStayBounded: hostile inputs of 40 KB cost a bounded
// amount of memory (the YAML parser alone took 100 MB for 16 KB of
// nesting, and memory grew with the square of the depth).
func TestParseBombsStayBounded(t *testing.T) {
	const size = 40 << 10
	bombs := map[string]string{
		"flow list":   nestedFlowSeq(size / 2),
		"flow map":    nestedFlowMap(size / 5),
		"dashes":      nestedDashes(size / 2),
		"block map":   nestedBlockMap(280), // 280 levels of indentation is 40 KB
		"alias tree":  "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n",
		"policy json": "{\"auto_heal\": " + nestedFlowSeq(size/2) + "}",
	}
	const bound = 64 << 20
	for name, src := range bombs {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if strings.HasPrefix(name, "policy") {
			_, _ = DecodePolicyJSON([]byte(src))
		} else {
			_, _ = Parse("bomb.yaml", []byte(src), nil)
		}
		runtime.ReadMemStats(&after)
		got := after.TotalAlloc - before.TotalAlloc
		require.Less(t, got, uint64(bound), "%s (%d bytes) allocated %d MB", name, len(src), got>>20)
	}
}
