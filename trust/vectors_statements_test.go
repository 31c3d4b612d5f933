package trust

import (
	"crypto/ecdsa"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The "statements" vector set: trust lists, content-key grants and sealed lookups (requests and answers), named good_* and
// fail_<reason>_* like the code vectors. They are checked against
// statements_fixture_TEST_ONLY.json, which holds public signing keys, the
// trust list nodes hold, a lookup request the answers answer, a fixed
// now — and, because sealed statements can only be opened by their
// recipient, the private encryption keys of the two recipient nodes,
// which exist for nothing but these vectors.
// Regenerate with: go test ./trust -run TestStatementVectors -update=statements
const statementsFixtureFile = "statements_fixture_TEST_ONLY.json"

// statementsFixture is the recipients' side of the statement vectors.
// Grants and snapshots are from Guangdong, grants to Shanghai; lookup
// requests from Shanghai to Guangdong, answers from Guangdong back.
type statementsFixture struct {
	Comment string `json:"comment"`
	Now     int64  `json:"now"`
	// Keys are the signing keys of each province, as its keyset lists them.
	Keys map[string][]KeysetEntry `json:"keys"`
	// EncKeys are the nodes' private enc keys as JWKs. TEST ONLY.
	EncKeys map[string]json.RawMessage `json:"enc_keys_TEST_ONLY"`
	// HeldTrustList is the signed trust list nodes hold; trust list
	// vectors are offered as its successor.
	HeldTrustList string `json:"held_trust_list"`
	// LookupRequest is the request Shanghai sent, which the lookup answer
	// vectors answer.
	LookupRequest LookupRequest `json:"lookup_request"`
}

// statementVectors is the fixture, loaded.
type statementVectors struct {
	now  time.Time
	keys map[string]map[string]*Key
	enc  map[string]*ecdsa.PrivateKey
	held *ParsedTrustList
	req  LookupRequest
}

func loadStatementsFixture(t testing.TB) *statementVectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, statementsFixtureFile))
	if err != nil {
		t.Fatal(err)
	}
	var fx statementsFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	v := &statementVectors{now: time.Unix(fx.Now, 0), keys: map[string]map[string]*Key{},
		enc: map[string]*ecdsa.PrivateKey{}, req: fx.LookupRequest}
	for id, entries := range fx.Keys {
		v.keys[id] = vectorKeys(t, entries)
	}
	for id, raw := range fx.EncKeys {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(raw, &jwk); err != nil {
			t.Fatal(err)
		}
		key, ok := jwk.Key.(*ecdsa.PrivateKey)
		if !ok {
			t.Fatalf("enc key of %s is not a private EC key", id)
		}
		v.enc[id] = key
	}
	if v.held, err = ParseTrustList([]byte(fx.HeldTrustList)); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestStatementVectors(t *testing.T) {
	if updating("statements") {
		writeStatementVectors(t)
	}
	v := loadStatementsFixture(t)
	// The held list is itself a good first install, pinned by its hash.
	if err := AcceptTrustList(nil, v.held, v.held.SHA256(), v.now); err != nil {
		t.Fatalf("held trust list: %v", err)
	}
	checks := map[string]func(raw string) error{
		"trustlist": func(raw string) error {
			next, err := ParseTrustList([]byte(raw))
			if err != nil {
				return err
			}
			return AcceptTrustList(v.held, next, "", v.now)
		},
		"grant": func(raw string) error {
			cks, err := OpenContentKeyGrant(raw, gd, v.keys[gd], sh, v.enc[sh])
			for _, ck := range cks {
				if !strings.HasPrefix(ck.ID, gd+"/") || len(ck.Key) != ContentKeyLen {
					t.Errorf("grant gave content key %q of %d bytes", ck.ID, len(ck.Key))
				}
			}
			return err
		},
		"lookup": func(raw string) error {
			_, err := OpenLookupRequest(raw, sh, v.keys[sh], gd, v.enc[gd], v.now)
			return err
		},
		"lookupanswer": func(raw string) error {
			req := v.req
			_, err := OpenLookupAnswer(raw, &req, v.keys[gd], v.enc[sh], v.now)
			return err
		},
	}
	n := 0
	for kind, check := range checks {
		var good, bad int
		n += forEachVector(t, kind, func(t *testing.T, name, text string, want Reason) {
			if want == ReasonOK {
				good++
			} else {
				bad++
			}
			err := check(text)
			if got := ReasonOf(err); got != want {
				t.Errorf("%s = %q (%v), want %q", kind, got, err, want)
			}
		})
		if good == 0 || bad < 5 {
			t.Errorf("%s: %d good and %d fail vectors", kind, good, bad)
		}
	}
	if n < 60 {
		t.Fatalf("only %d statement vectors", n)
	}
}

// TrustListRefusals names the reason of every trust-list fail vector: a
// node starts its refusal counters from that list, and a reason missing
// from it would leave the first refusal of its kind unseen by alerts.
func TestTrustListRefusalsNameEveryFailVector(t *testing.T) {
	refusals := TrustListRefusals()
	forEachVector(t, "trustlist", func(t *testing.T, name, _ string, want Reason) {
		if want != ReasonOK && !slices.Contains(refusals, want) {
			t.Errorf("%s refused with %q, which TrustListRefusals leaves out", name, want)
		}
	})
}
