package config

import (
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// settings lists the config.yaml key of every setting in t, recursively:
// a struct is a section, anything else (lists of rules or rates included)
// one setting.
func settings(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag[0] == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if len(tag) > 1 && tag[1] == "inline" {
			keys = append(keys, settings(ft, prefix)...)
			continue
		}
		key := prefix + tag[0]
		if ft.Kind() == reflect.Struct {
			keys = append(keys, settings(ft, key+".")...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// TestEverySettingIsInConfigYAML: the shipped config.yaml, which an owner
// copies and edits, shows every setting the code reads, each with a
// comment saying what it does (on its line, or on its section's).
func TestEverySettingIsInConfigYAML(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(readRepoConfig(t), &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range settings(reflect.TypeFor[Config](), "") {
		n, said := doc.Content[0], false
		for _, step := range strings.Split(key, ".") {
			var k *yaml.Node
			if k, n = entry(n, step); n == nil {
				t.Errorf("config.yaml does not show %s", key)
				break
			}
			// A comment on the key or on a section above it: a group of
			// related keys shares one.
			said = said || k.LineComment != "" || n.LineComment != ""
		}
		if n != nil && !said && key != "rules" && !strings.HasPrefix(key, "shipping.") {
			t.Errorf("config.yaml shows %s without a comment", key) // rules and rates have theirs above them
		}
	}
}
