package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdJSONVar sets an environment variable to a string or number in a JSON
// document, for a scenario to use an id a command printed: FILE is a file
// or stdout/stderr of the last command, PATH is dot-separated keys and
// array indexes (appeals.0.id).
//
//	jsonvar VAR FILE PATH
func cmdJSONVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: jsonvar VAR FILE PATH")
	}
	var v any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &v))
	got, err := jsonPath(v, args[2])
	ts.Check(err)
	ts.Setenv(args[0], got)
}

// jsonPath walks v along path and returns the string or number there.
func jsonPath(v any, path string) (string, error) {
	for _, k := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[k]; !ok {
				return "", fmt.Errorf("no key %q on the path %s", k, path)
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(t) {
				return "", fmt.Errorf("no element %q in an array of %d on the path %s", k, len(t), path)
			}
			v = t[i]
		default:
			return "", fmt.Errorf("%q on the path %s is not in an object or array", k, path)
		}
	}
	switch t := v.(type) {
	case string:
		return t, nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("%s is not a string or number", path)
}

// cmdRegexpVar sets an environment variable to the first group of the
// first match of REGEXP in FILE (or stdout/stderr of the last command),
// for a scenario to use what a command printed as text, such as the
// token recover-admin prints once.
//
//	regexpvar VAR FILE REGEXP
func cmdRegexpVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: regexpvar VAR FILE REGEXP")
	}
	re, err := regexp.Compile(args[2])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(args[1]))
	if len(m) < 2 {
		ts.Fatalf("regexpvar: %s holds no match of %s with a group", args[1], args[2])
	}
	ts.Setenv(args[0], m[1])
}
