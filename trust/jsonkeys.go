package trust

// This file holds the strict JSON key rule: it refuses the object keys
// encoding/json lets through even with DisallowUnknownFields: a key that
// matches a field only case-insensitively ("ISS" for "iss") and a key
// given twice in one object (where encoding/json keeps the last). Either
// lets one payload mean two things — to encoding/json and to a reader that
// matches keys exactly or keeps the first duplicate — so HCFed refuses
// both wherever it decodes JSON it must read exactly as it was meant:
// every signed statement and trust list (decodeStrict), the HTTP API's
// request bodies (node/api), and the other JSON that comes from outside
// the process: a replica's sealed content keys, a trust list document an
// operator signs, a peer's revsnapshot pointer, an enrolment file. They
// read it with DecodeJSON — this rule, then encoding/json, then nothing
// after the value — but for decodeTrustListDoc, which checks keys last
// (so that a refused header is named) and then wants the canonical form.
//
// CheckJSONKeys only checks keys; decoding is left to encoding/json,
// which runs after it and reports syntax and type errors.

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
)

// MaxJSONDepth bounds how deeply a checked document may nest objects and
// arrays; no HCFed request or statement nests more than four.
const MaxJSONDepth = 32

// maxKeyInError is how much of a refused key an error quotes.
const maxKeyInError = 40

// KeyProblem is why CheckJSONKeys refused a document.
type KeyProblem int

// The problems CheckJSONKeys reports.
const (
	// KeyDuplicate: a key given twice in one object.
	KeyDuplicate KeyProblem = iota + 1
	// KeyNotAField: a key that is not spelled exactly as a field's JSON
	// name — unknown, or a case variant of a field.
	KeyNotAField
	// KeyTooDeep: objects and arrays nested deeper than MaxJSONDepth.
	KeyTooDeep
)

// KeyError is a key CheckJSONKeys refuses: which key, and why.
type KeyError struct {
	Problem KeyProblem
	Key     string // the key as written (unescaped); empty for KeyTooDeep
}

// Error says why, quoting at most 40 bytes of the key, with invalid UTF-8
// replaced: `duplicate key "iss"`, `unknown field "ISS"`, `nested too
// deeply`. node/api's clients see these words; keep them stable.
func (e *KeyError) Error() string {
	switch e.Problem {
	case KeyDuplicate:
		return "duplicate key " + quoteJSONKey(e.Key)
	case KeyNotAField:
		return "unknown field " + quoteJSONKey(e.Key)
	default:
		return "nested too deeply"
	}
}

// CheckJSONKeys walks body's tokens alongside the type of v (typically the
// pointer about to be passed to a decoder; only its type is used) and
// returns a *KeyError for the first object key the decoder should not
// take: given twice in one object, or, where the object decodes into a
// struct, not spelled exactly as one of its fields' JSON names. Keys
// inside a map, an interface or a type with its own UnmarshalJSON or
// UnmarshalText (json.RawMessage included) are checked for duplicates
// only. Syntax errors are not its concern: it returns nil for them and
// the decoder that runs next reports them.
func CheckJSONKeys(body []byte, v any) error {
	w := keyWalker{dec: json.NewDecoder(bytes.NewReader(body))}
	w.dec.UseNumber()
	err := w.value(reflect.TypeOf(v))
	var ke *KeyError
	if errors.As(err, &ke) {
		return ke
	}
	return nil // nil, or a syntax error the decoder reports
}

// ErrTrailingData is DecodeJSON's error for anything but white space
// after the value.
var ErrTrailingData = errors.New("trailing data")

// jsonSpace is the white space JSON allows between tokens.
const jsonSpace = " \t\r\n"

// DecodeJSON decodes the one JSON value b holds into v (a pointer) by
// the rule HCFed applies to all JSON from outside the process — signed
// payloads, API bodies, files an operator hands it, values read from
// NATS: CheckJSONKeys' key rule, no field v lacks, and nothing after the
// value but white space (not even a stray '}' or ']', which a decoder's
// More takes for the end). Its error is a *KeyError, encoding/json's own,
// or ErrTrailingData; callers word it.
func DecodeJSON(b []byte, v any) error {
	if err := CheckJSONKeys(b, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimLeft(b[dec.InputOffset():], jsonSpace)) != 0 {
		return ErrTrailingData
	}
	return nil
}

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
	if w.depth++; w.depth > MaxJSONDepth {
		return &KeyError{Problem: KeyTooDeep}
	}
	defer func() { w.depth-- }()
	t = keyTarget(t)
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
		fields = jsonFieldsOf(t)
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
			return &KeyError{Problem: KeyDuplicate, Key: key}
		}
		seen[key] = true
		vt := elem
		if fields != nil {
			ft, ok := fields[key]
			if !ok {
				return &KeyError{Problem: KeyNotAField, Key: key}
			}
			vt = ft
		}
		if err := w.value(vt); err != nil {
			return err
		}
	}
	return nil
}

// quoteJSONKey quotes a key for an error message, cut short.
func quoteJSONKey(k string) string {
	if len(k) > maxKeyInError {
		k = k[:maxKeyInError] + "…"
	}
	return `"` + strings.ToValidUTF8(k, "?") + `"`
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// keyTarget is the type whose fields a JSON value fills: t without pointers,
// or nil when its keys are not fields (an interface, or a type that
// decodes itself).
func keyTarget(t reflect.Type) reflect.Type {
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

// jsonStructFields caches jsonFieldsOf per struct type: a cache of what the
// program's types are, not state.
var jsonStructFields sync.Map // reflect.Type → map[string]reflect.Type

// jsonFieldsOf maps the exact JSON names of a struct's fields, as
// encoding/json writes them, to their types; fields of embedded structs
// are promoted unless an outer field has their name.
func jsonFieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := jsonStructFields.Load(t); ok {
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
			if et := keyTarget(f.Type); et != nil && et.Kind() == reflect.Struct {
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
		for name, ft := range jsonFieldsOf(et) {
			if _, ok := m[name]; !ok {
				m[name] = ft
			}
		}
	}
	jsonStructFields.Store(t, m)
	return m
}
