package traffic_test

import (
	"slices"
	"testing"

	"github.com/receiptd/receiptd/internal/traffic"
)

func TestBusiestGroups(t *testing.T) {
	rec := func(group string) traffic.Record { return traffic.Record{Event: traffic.Event{GroupID: group}} }
	records := []traffic.Record{rec("b"), rec("a"), rec("b"), rec(""), rec("c"), rec("a"), rec("b"),
		{Malformed: true, Event: traffic.Event{GroupID: "c"}}, rec("d")}
	if got := traffic.BusiestGroups(records, 3); !slices.Equal(got, []string{"b", "a", "c"}) {
		t.Errorf("BusiestGroups = %v, want [b a c]: by count, ties by name, malformed records left out", got)
	}
	if got := traffic.BusiestGroups(records, 10); len(got) != 4 {
		t.Errorf("BusiestGroups(10) = %v, want the 4 groups there are", got)
	}
	if n := traffic.RecordsAbout(records, []string{"a", "c"}); n != 3 {
		t.Errorf("RecordsAbout(a, c) = %d, want 3", n)
	}
}
