package config

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// readmeConfiguration is the README's "Configuration" section: the
// reference a province's IT staff write hcnode.yaml from.
func readmeConfiguration(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## Configuration\n")
	if i < 0 {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	s = s[i+1:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}

var docKeyRE = regexp.MustCompile("`(\\.?[a-z][a-z0-9_]*(?:\\.[a-z0-9_]+)*)`")

// documentedKeys reads the keys of the section's table: the names in
// backquotes of each row's first cell, where `.x` after `a.b.c` stands
// for `a.b.x` (`privacy.retention.subjects` / `.codes`).
func documentedKeys(section string) []string {
	var keys []string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		parent := ""
		for _, m := range docKeyRE.FindAllStringSubmatch(strings.Split(line, "|")[1], -1) {
			k := m[1]
			if strings.HasPrefix(k, ".") {
				k = parent + k
			} else if i := strings.LastIndex(k, "."); i >= 0 {
				parent = k[:i]
			} else {
				parent = k
			}
			keys = append(keys, k)
		}
	}
	return keys
}

// settings lists the dotted name of every setting a config file holds.
func settings(t *testing.T, v any, prefix string, out *[]string) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		*out = append(*out, strings.TrimSuffix(prefix, "."))
		return
	}
	for k, child := range m {
		settings(t, child, prefix+k+".", out)
	}
}

// Every setting of hcnode.yaml is in the README's configuration table,
// and the table names no setting that does not exist; every HCNODE_*
// variable the config reads is in its list of environment overrides, and
// the list names none it does not read. role and the replica section
// were missing from the table: a verifier's settings were only in an
// example.
func TestEverySettingAndOverrideIsInTheConfigurationReference(t *testing.T) {
	section := readmeConfiguration(t)
	b, err := yaml.Marshal(Default("440000"))
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	var keys []string
	settings(t, tree, "", &keys)
	documented := documentedKeys(section)
	if len(documented) < 40 {
		t.Fatalf("only %d settings read from the README's table: is the pattern still right?", len(documented))
	}
	sameNames(t, keys, documented, "setting %s is not in the README's configuration table",
		"the README's configuration table names %s, which is no setting")

	var read []string
	c := Default("440000")
	if err := c.ApplyEnv(func(k string) (string, bool) { read = append(read, k); return "", false }); err != nil {
		t.Fatal(err)
	}
	read = append(read, "HCNODE_KEK") // read by the node's KEK loader, not ApplyEnv
	listed := regexp.MustCompile(`HCNODE_[A-Z0-9_]+`).FindAllString(section, -1)
	sameNames(t, read, listed, "%s is read but not in the README's environment overrides",
		"the README's configuration section names %s, which the config does not read")
}

// sameNames reports each name of got missing from documented, and each
// of documented missing from got, in the given words.
func sameNames(t *testing.T, got, documented []string, undocumented, unknown string) {
	t.Helper()
	for _, k := range got {
		if !slices.Contains(documented, k) {
			t.Errorf(undocumented, k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(got, k) {
			t.Errorf(unknown, k)
		}
	}
}
