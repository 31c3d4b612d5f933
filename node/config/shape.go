// Shape: the config file checked against the settings a node knows,
// before it is decoded, so that each mistake a person makes in it (a
// misspelt or misplaced setting, one given twice, a value of the wrong
// kind) is told as one sentence naming the line and the setting by its
// dotted name, not as the YAML library's words about Go types.

package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxShapeErrors is the most problems one load reports; a file that is
// wrong throughout has one cause, and the first lines show it.
const maxShapeErrors = 10

// checkShape returns every problem of the YAML document doc against
// Config (at most maxShapeErrors), joined, or nil. It removes from doc
// every setting it names, so that the rest decodes and its values can be
// checked in the same run, and returns their dotted names; "" among them
// when the file holds no settings at all.
func checkShape(doc *yaml.Node) (map[string]bool, error) {
	s := shape{bad: map[string]bool{}}
	if doc.Kind == 0 {
		return s.bad, nil // an empty file: the defaults, then what is required
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return s.bad, nil
		}
		doc = doc.Content[0]
	}
	if !s.of(doc, reflect.TypeOf(Config{}), "") {
		s.bad[""] = true
	}
	errs := s.errs
	if len(errs) > maxShapeErrors {
		errs = append(errs[:maxShapeErrors], fmt.Errorf("and %d more", len(errs)-maxShapeErrors))
	}
	return s.bad, errors.Join(errs...)
}

// shape collects the problems checkShape finds, and the settings they
// name.
type shape struct {
	errs []error
	bad  map[string]bool
}

// of checks n, the value of the setting path, against t, removing from
// n's sections the settings that are wrong; false if n itself is.
func (s *shape) of(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t.Kind() != reflect.Struct {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			s.errs = append(s.errs, fmt.Errorf("line %d: %s: %s is not %s", n.Line, path, describe(n, t), kindOf(t)))
			return false
		}
		return true
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return true // "tls:" with nothing under it: the defaults
	}
	if n.Kind != yaml.MappingNode && path == "" {
		s.errs = append(s.errs, fmt.Errorf("line %d: the file holds no settings: write one setting a line, as name: value", n.Line))
		return false
	}
	if n.Kind != yaml.MappingNode {
		s.errs = append(s.errs, fmt.Errorf("line %d: %s is a section: put its settings under it, indented (see hcnode.yaml as init writes it)",
			n.Line, path))
		return false
	}
	fields := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			fields[name] = f
		}
	}
	seen := map[string]int{}
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if s.pair(k, v, path, fields, seen) {
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
	return true
}

// pair checks one setting k: v of the section path, whose settings are
// fields and seen the ones met so far; false if it is wrong.
func (s *shape) pair(k, v *yaml.Node, path string, fields map[string]reflect.StructField, seen map[string]int) bool {
	if k.Value == "<<" {
		return true // a merge key: the decoder checks what it brings
	}
	name := join(path, k.Value)
	if first, ok := seen[k.Value]; ok {
		s.errs = append(s.errs, fmt.Errorf("line %d: %s is set twice (first on line %d): keep one", k.Line, name, first))
		s.bad[name] = true
		return false
	}
	seen[k.Value] = k.Line
	f, ok := fields[k.Value]
	if !ok {
		s.errs = append(s.errs, unknownSetting(k, path, fields))
		return false
	}
	if !s.of(v, f.Type, name) {
		s.bad[name] = true
		return false
	}
	return true
}

// unknownSetting says that key k is no setting of the section path, and
// which one was probably meant.
func unknownSetting(k *yaml.Node, path string, fields map[string]reflect.StructField) error {
	where := "a setting"
	if path != "" {
		where = "a setting of " + path
	}
	best, bestDist := "", max(1, len(k.Value)/3)+1
	for name := range fields {
		if d := editDistance(strings.ToLower(k.Value), name); d < bestDist || (d == bestDist && name < best) {
			best, bestDist = name, d
		}
	}
	if best != "" {
		return fmt.Errorf("line %d: %q is not %s: did you mean %s? Correct or remove it", k.Line, k.Value, where, join(path, best))
	}
	if elsewhere := settingPath(reflect.TypeOf(Config{}), "", k.Value); elsewhere != "" {
		return fmt.Errorf("line %d: %q is not %s: it is %s; move it there", k.Line, k.Value, where, elsewhere)
	}
	return fmt.Errorf("line %d: %q is not %s: remove it (the settings are listed in the README, \"Configuration\")", k.Line, k.Value, where)
}

// settingPath is the dotted name of the setting called name in t or its
// sections, or "".
func settingPath(t reflect.Type, path, name string) string {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == name {
			return join(path, tag)
		}
		if f.Type.Kind() == reflect.Struct && tag != "" && tag != "-" {
			if p := settingPath(f.Type, join(path, tag), name); p != "" {
				return p
			}
		}
	}
	return ""
}

var durationType = reflect.TypeOf(time.Duration(0))

// kindOf says in words what a setting of type t holds.
func kindOf(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration (such as 24h, 90m or 30s)"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Slice:
		return "a list (such as [a, b])"
	default:
		return "a single value"
	}
}

// describe names the value a person wrote: a scalar itself, unless the
// setting holds text (a password may be one), otherwise its kind.
func describe(n *yaml.Node, t reflect.Type) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section"
	case yaml.SequenceNode:
		return "a list"
	}
	if t.Kind() == reflect.String || t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String {
		return "this value"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	return fmt.Sprintf("%q", v)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
