package config

import (
	"os"
	"reflect"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// examplePath is the sample configuration at the repository's root.
const examplePath = "../../../tolk.example.yaml"

// TestExampleNamesEverySetting: tolk.example.yaml lists every setting the
// loader knows, nothing else, and each with its default, so it cannot drift
// from the code: a new setting fails this test until it is documented there.
func TestExampleNamesEverySetting(t *testing.T) {
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if _, ok := m[s.name]; !ok {
			t.Errorf("tolk.example.yaml lacks %s", s.name)
		}
	}
	for k := range m {
		if _, ok := lookup(k); !ok {
			t.Errorf("tolk.example.yaml names %s, which the loader does not know", k)
		}
	}

	noEnv := func(string) string { return "" }
	fromExample, err := Load(Sources{File: examplePath, Env: noEnv})
	if err != nil {
		t.Fatalf("loading the example: %v", err)
	}
	defaults, err := Load(Sources{Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromExample, defaults) {
		a, d := reflect.ValueOf(fromExample), reflect.ValueOf(defaults)
		var differ []string
		for i := range a.NumField() {
			if !reflect.DeepEqual(a.Field(i).Interface(), d.Field(i).Interface()) {
				differ = append(differ, a.Type().Field(i).Name)
			}
		}
		slices.Sort(differ)
		t.Errorf("the example's values are not the defaults: %v", differ)
	}
}
