package config

import (
	"strings"
	"testing"
)

// TestLoadTellsEachMistakeInTheFileByLineAndSetting: the mistakes staff
// make in a config file are each told as a sentence naming the line, the
// setting by its dotted name and what to do, never in the YAML library's
// words about Go types ("field lisen not found in type config.Config",
// "cannot unmarshal !!str `eight` into int", which named no setting).
func TestLoadTellsEachMistakeInTheFileByLineAndSetting(t *testing.T) {
	const head = "province: \"440000\"\ndata_dir: d\n"
	for name, tc := range map[string]struct{ body, want string }{
		"typo": {head + "lisen: 127.0.0.1:8080\n",
			`line 3: "lisen" is not a setting: did you mean listen? Correct or remove it`},
		"typo in a section": {head + "codes:\n  max_lives: 3\n",
			`line 4: "max_lives" is not a setting of codes: did you mean codes.max_live?`},
		"setting in the wrong section": {head + "max_live: 3\n",
			`line 3: "max_live" is not a setting: it is codes.max_live; move it there`},
		"unknown section": {head + "metrics:\n  enabled: true\n",
			`line 3: "metrics" is not a setting: remove it`},
		"whole number": {head + "codes:\n  max_live: eight\n",
			`line 4: codes.max_live: "eight" is not a whole number`},
		"duration": {head + "codes:\n  lifetime: 24hours\n",
			`line 4: codes.lifetime: "24hours" is not a duration (such as 24h, 90m or 30s)`},
		"duration without unit": {head + "tokens:\n  operator_lifetime: 3600\n",
			`line 4: tokens.operator_lifetime: "3600" is not a duration`},
		"boolean": {head + "nats:\n  embedded: sometimes\n",
			`line 4: nats.embedded: "sometimes" is not true or false`},
		"list": {head + "trusted_proxies: 10.0.0.1\n",
			`line 3: trusted_proxies: this value is not a list (such as [a, b])`},
		"section given a value": {head + "codes: 5\n",
			`line 3: codes is a section: put its settings under it, indented`},
		"text given a section": {head + "nats:\n  password:\n    a: b\n",
			`line 5: nats.password: a section is not a single value`},
		"set twice": {head + "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n",
			`line 4: listen is set twice (first on line 3): keep one`},
		"set twice in a section": {head + "codes:\n  lifetime: 1h\n  lifetime: 2h\n",
			`line 5: codes.lifetime is set twice (first on line 4): keep one`},
		"not settings": {"- province\n- data_dir\n",
			`line 1: the file holds no settings: write one setting a line, as name: value`},
		"not YAML": {"province: \"440000\"\n  bad: [\n",
			`is not valid YAML (yaml: line 1: did not find expected key): check the indentation and quoting there`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(t, tc.body))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
			for _, jargon := range []string{"config.Config", "!!", "unmarshal", "in type"} {
				if strings.Contains(err.Error(), jargon) {
					t.Fatalf("error %q speaks of Go or YAML internals (%q)", err, jargon)
				}
			}
		})
	}
}

// TestLoadReportsEveryMistakeOfTheFileAtOnce: a file with several
// mistakes names each, so staff fix them in one go; a password given
// where a section or list belongs is not echoed.
func TestLoadReportsEveryMistakeOfTheFileAtOnce(t *testing.T) {
	_, err := Load(write(t, "province: \"440000\"\ndata_dir: d\nlisen: x\ncodes:\n  max_live: eight\nnats:\n  password: [s3cret]\n"))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"line 3: \"lisen\"", "line 5: codes.max_live", "line 7: nats.password: a list is not a single value"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q echoes the password", err)
	}
}

// TestLoadReportsValueMistakesWithShapeMistakes: the values of the
// settings that have the right shape are checked in the same run as the
// shape, so staff fix the file once, not once per kind of mistake; a
// setting whose shape is wrong is told once, not again about the default
// that stood in for it. Before, the value mistakes (listen, codes.lifetime,
// data_dir) came only once the shape ones were fixed.
func TestLoadReportsValueMistakesWithShapeMistakes(t *testing.T) {
	_, err := Load(write(t, "province: \"440000\"\nlisen: x\nlisten: nowhere\ncodes:\n  max_live: eight\n  lifetime: 200h\n"+
		"federation: [a]\nkeys: 5\n"))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`line 2: "lisen" is not a setting`, "line 5: codes.max_live", "line 7: federation: a list is not a single value",
		"line 8: keys is a section",
		`config: listen: "nowhere" must be a host and port`, "config: codes.lifetime: 200h0m0s must be within (0, 168h]",
		"config: data_dir: required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not say %q", err, want)
		}
	}
	for _, twice := range []string{"config: federation:", "config: codes.max_live:", "config: keys."} {
		if strings.Contains(err.Error(), twice) {
			t.Errorf("error %q\njudges the default of a setting whose shape is wrong (%q)", err, twice)
		}
	}
}

// TestLoadAcceptsWhatTheCheckAllows: anchors, an empty section and yes
// for a boolean load as the YAML decoder reads them.
func TestLoadAcceptsWhatTheCheckAllows(t *testing.T) {
	c, err := Load(write(t, "province: \"440000\"\ndata_dir: d\ntls:\nkeys: &k\n  rotation: 168h\ncodes:\n  lifetime: 12h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Codes.Lifetime.Hours() != 12 || c.TLS.CertFile != "" {
		t.Fatalf("loaded %+v", c.Codes)
	}
}
