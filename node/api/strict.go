package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"

	"github.com/hcfed/hcfed/node"
)

// maxJSONDepth bounds how deeply a request body may nest objects and
// arrays; no request type of the API nests more than three.
const maxJSONDepth = 32

// checkKeys refuses what encoding/json lets through even with
// DisallowUnknownFields: an object key that matches a field of t only
// case-insensitively ("Name" for "name"), and a key given twice in one
// object (where encoding/json keeps the last). It walks body's tokens
// alongside t's fields, so every route that binds gets the same rule; keys
// inside a map, an interface or a type with its own UnmarshalJSON are
// checked for duplicates only. Syntax errors are left to the decoder that
// runs next, which reports them.
func checkKeys(body []byte, t reflect.Type) error {
	w := keyWalker{dec: json.NewDecoder(bytes.NewReader(body))}
	w.dec.UseNumber()
	err := w.value(t)
	var ke *keyError
	if errors.As(err, &ke) {
		return node.Errorf(node.EInvalid, "invalid JSON: %s", ke.msg)
	}
	return nil // nil, or a syntax error the decoder reports
}

// keyError is a key checkKeys refuses.
type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }

type keyWalker struct {
	dec   *json.Decoder
	depth int
}

// value walks one JSON value that decodes into t (nil: anything).
func (w *keyWalker) value(t reflect.Type) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if w.depth++; w.depth > maxJSONDepth {
		return &keyError{"nested too deeply"}
	}
	defer func() { w.depth-- }()
	t = target(t)
	if d == '[' {
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for w.dec.More() {
			if err := w.value(elem); err != nil {
				return err
			}
		}
	} else {
		if err := w.object(t); err != nil {
			return err
		}
	}
	_, err = w.dec.Token() // the closing delimiter
	return err
}

// object walks the members of an object that decodes into t.
func (w *keyWalker) object(t reflect.Type) error {
	var fields map[string]reflect.Type
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = fieldsOf(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	seen := make(map[string]bool)
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if seen[key] {
			return &keyError{"duplicate key " + quoteKey(key)}
		}
		seen[key] = true
		vt := elem
		if fields != nil {
			ft, ok := fields[key]
			if !ok {
				return &keyError{"unknown field " + quoteKey(key)}
			}
			vt = ft
		}
		if err := w.value(vt); err != nil {
			return err
		}
	}
	return nil
}

// quoteKey quotes a client's key for an error message, cut short.
func quoteKey(k string) string {
	if len(k) > 40 {
		k = k[:40] + "…"
	}
	return `"` + strings.ToValidUTF8(k, "?") + `"`
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// target is the type whose fields a JSON value fills: t without pointers,
// or nil when its keys are not fields (an interface, or a type that
// decodes itself).
func target(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
			t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
			return nil
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Interface:
			return nil
		default:
			return t
		}
	}
	return nil
}

// structFields caches fieldsOf per struct type.
var structFields sync.Map // reflect.Type → map[string]reflect.Type

// fieldsOf maps the exact JSON names of a struct's fields, as
// encoding/json writes them, to their types; fields of embedded structs
// are promoted unless an outer field has their name.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := structFields.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := make(map[string]reflect.Type)
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if et := target(f.Type); et != nil && et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	for _, et := range embedded {
		for name, ft := range fieldsOf(et) {
			if _, ok := m[name]; !ok {
				m[name] = ft
			}
		}
	}
	structFields.Store(t, m)
	return m
}
