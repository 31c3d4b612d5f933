package federation

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"
)

// requireWarningsInStep checks that the view's two warning lists say the
// same warnings in the same order, and returns the details by code.
func requireWarningsInStep(t *testing.T, v FederationView) map[WarningCode][]Warning {
	t.Helper()
	if len(v.Warnings) != len(v.WarningDetails) {
		t.Fatalf("%d warnings, %d warning details: %q %+v", len(v.Warnings), len(v.WarningDetails), v.Warnings, v.WarningDetails)
	}
	byCode := map[WarningCode][]Warning{}
	for i, w := range v.WarningDetails {
		if w.Text != v.Warnings[i] {
			t.Errorf("warning %d: detail %q, sentence %q", i, w.Text, v.Warnings[i])
		}
		if w.Code == "" || w.Params == nil {
			t.Errorf("warning %q has no code or a null params", w.Text)
		}
		byCode[w.Code] = append(byCode[w.Code], w)
	}
	return byCode
}

// requireCodedWarnings checks the warnings of TestViewWarnsOfExpiry's
// view by code. A console in Chinese said the warnings in English with
// UTC times: it had only the sentences. Each now carries a code and the
// parameters the sentence was made from, a time as RFC 3339 for the
// console to write in the operator's locale.
func requireCodedWarnings(t *testing.T, v FederationView) {
	t.Helper()
	byCode := requireWarningsInStep(t, v)
	tlExpires := v.TrustList.Expires.UTC().Format(time.RFC3339)
	ksExpires := v.Members[2].KeysetExpires.UTC().Format(time.RFC3339)
	for _, c := range []struct {
		code   WarningCode
		params map[string]string
		text   string
	}{
		{WarningTrustListExpires, map[string]string{"version": "1", "expires": tlExpires}, "trust list v1 expires " + tlExpires},
		{WarningKeysetExpires, map[string]string{"province": gd, "expires": ksExpires}, "keyset of " + gd + " expires " + ksExpires},
	} {
		if w := byCode[c.code]; len(w) != 1 || !maps.Equal(w[0].Params, c.params) || w[0].Text != c.text {
			t.Errorf("%s: %+v, want params %v and %q", c.code, w, c.params, c.text)
		}
	}
	// No heartbeat from any of the three active members.
	var silent []string
	for _, w := range byCode[WarningNoHeartbeat] {
		silent = append(silent, w.Params["province"])
	}
	if strings.Join(silent, " ") != strings.Join([]string{bj, sh, gd}, " ") {
		t.Errorf("no_heartbeat warnings name %v", silent)
	}

	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"warning_details":[{"code":"keyset_expires","params":{"expires":"` + ksExpires + `","province":"440000"},"text":"keyset of 440000 expires`; !strings.Contains(string(b), want) {
		t.Errorf("JSON lacks %s: %s", want, b)
	}
	if !strings.Contains(string(b), `"warnings":["keyset of 440000 expires `+ksExpires+`",`) {
		t.Errorf("JSON's warnings are no longer the sentences: %s", b)
	}
}

func TestStreamWarningSaysWhatIsWrongByCode(t *testing.T) {
	for _, c := range []struct {
		name   string
		h      StreamHealth
		code   WarningCode
		params map[string]string
		text   string
	}{
		{"unreadable", StreamHealth{Asset: AssetRevocations, Error: "JetStream not enabled"}, WarningStreamError,
			map[string]string{"asset": "revocations", "error": "JetStream not enabled"}, "JetStream revocations: JetStream not enabled"},
		{"no leader", StreamHealth{Asset: AssetState, Replicas: 3, Current: 1}, WarningStreamNoLeader,
			map[string]string{"asset": "state"}, "JetStream state: no leader (JetStream quorum lost?)"},
		{"replicas behind", StreamHealth{Asset: AssetSnapshots, Replicas: 3, Current: 2, Leader: "n1"}, WarningStreamReplicasBehind,
			map[string]string{"asset": "snapshots", "current": "2", "replicas": "3"}, "JetStream snapshots: 2 of 3 replicas current"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := c.h.Warning()
			if w.Code != c.code || !maps.Equal(w.Params, c.params) || w.Text != c.text {
				t.Errorf("warning %+v, want %s %v %q", w, c.code, c.params, c.text)
			}
			if d := c.h.Describe(); "JetStream "+c.h.Asset+": "+d != c.text {
				t.Errorf("Describe says %q", d)
			}
		})
	}
}

func TestAddWarningsKeepsBothListsInStep(t *testing.T) {
	v := FederationView{Warnings: []string{}, WarningDetails: []Warning{}}
	v.AddWarnings(StreamHealth{Asset: AssetState, Replicas: 3, Current: 2, Leader: "n1"}.Warning(), Warning{Code: WarningNoTrustList, Text: "no trust list held"})
	requireWarningsInStep(t, v)
	if len(v.Warnings) != 2 || v.Warnings[1] != "no trust list held" {
		t.Errorf("warnings %q", v.Warnings)
	}
}
