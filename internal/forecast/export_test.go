package forecast

import (
	"slices"
	"strings"
)

// UnknownOf is what the indicators that could not judge k said, in the
// order of their names, joined by "; "; empty when all of them could.
func (r Reading) UnknownOf(k Key) string {
	var inds []string
	for s := range r.Unknown {
		if s.Key == k {
			inds = append(inds, s.Indicator)
		}
	}
	slices.Sort(inds)
	why := make([]string, 0, len(inds))
	for _, ind := range inds {
		why = append(why, r.Unknown[Source{k, ind}])
	}
	return strings.Join(why, "; ")
}
