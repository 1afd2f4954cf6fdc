package config

import (
	"os"
	"reflect"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// config.yaml is the documentation of every key. Decoding it strictly onto an empty
// Config must set every key exactly once, to its default, each with a comment, so the
// file cannot drift from the code.
func TestConfigYAMLMatchesDefault(t *testing.T) {
	data, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	ld := newLoader()
	if !ld.decodeYAML("config.yaml", data, &got) || len(ld.problems) > 0 {
		t.Fatalf("config.yaml does not decode strictly: %v", problemsError(ld.problems))
	}
	gotR, wantR := got.Redacted(), Default().Redacted()
	for _, l := range allLeaves {
		if g, w := gotR[l.key], wantR[l.key]; !reflect.DeepEqual(g, w) {
			t.Errorf("config.yaml sets %s to %v, Default() has %v", l.key, g, w)
		}
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Errorf("config.yaml decodes to a different Config than Default()")
	}
	seen := map[string]int{}
	for _, k := range ld.seen {
		seen[k]++
	}
	var keys []string
	for _, l := range allLeaves {
		keys = append(keys, l.key)
		if seen[l.key] != 1 {
			t.Errorf("config.yaml sets %s %d times, want once", l.key, seen[l.key])
		}
	}
	if !slices.Equal(ld.seen, keys) {
		t.Errorf("config.yaml lists the keys in another order than Config:\n got %q\nwant %q", ld.seen, keys)
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := joinKey(path, k.Value)
			if v.Kind == yaml.MappingNode {
				walk(v, key)
				continue
			}
			if k.HeadComment == "" && k.LineComment == "" && v.LineComment == "" {
				t.Errorf("config.yaml:%d: %s has no comment", k.Line, key)
			}
		}
	}
	walk(doc.Content[0], "")
}
