package traffic

import (
	"maps"
	"slices"
	"strings"
)

// BusiestGroups returns the n groups that the most records are about,
// busiest first, ties by name. Malformed records count for none.
func BusiestGroups(records []Record, n int) []string {
	count := make(map[string]int)
	for _, r := range records {
		if g := r.Event.GroupID; g != "" && !r.Malformed {
			count[g]++
		}
	}
	groups := slices.Collect(maps.Keys(count))
	slices.SortFunc(groups, func(a, b string) int {
		if count[a] != count[b] {
			return count[b] - count[a]
		}
		return strings.Compare(a, b)
	})
	return groups[:min(n, len(groups))]
}

// RecordsAbout counts the records about one of groups.
func RecordsAbout(records []Record, groups []string) int {
	n := 0
	for _, r := range records {
		if !r.Malformed && slices.Contains(groups, r.Event.GroupID) {
			n++
		}
	}
	return n
}
