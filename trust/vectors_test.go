package trust

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// update names the vector set to regenerate: "codes", "statements" or
// "all". Vectors are the compatibility contract: each set is regenerated
// only on purpose, never as a side effect of regenerating another.
var update = flag.String("update", "", "regenerate a vector set of trust/testdata/vectors (codes, statements or all) and its fuzz seeds")

// updating reports whether -update asks for set.
func updating(set string) bool { return *update == set || *update == "all" }

// Test vectors, age-style: testdata/vectors/<kind>/good_*.txt must pass,
// fail_<reason>_*.txt must fail with that reason. Codes, keysets and
// revocations (the "codes" set) are checked against fixture_TEST_ONLY.json
// alone, which holds public keys, the symmetric content keys needed to
// read codes, and a fixed now — no private key. Trust lists, grants
// and sealed lookups (the "statements" set) and revocation snapshots
// have their own fixtures (vectors_statements_test.go, vectors_snapshot_test.go).
// Regenerate with: go test ./trust -run TestVectors -update=codes
const (
	vectorDir   = "testdata/vectors"
	fixtureFile = "fixture_TEST_ONLY.json"
)

// vectorFixture is the verifier's side of the vectors.
type vectorFixture struct {
	Comment    string          `json:"comment"`
	Now        int64           `json:"now"`
	StaleAfter int64           `json:"stale_after"`
	Members    []vectorMember  `json:"members"`
	Revoked    []vectorRevoked `json:"revoked"`
}

type vectorMember struct {
	ID          string             `json:"id"`
	Status      MemberStatus       `json:"status"`
	Root        json.RawMessage    `json:"root"`
	Keys        []KeysetEntry      `json:"keys"`
	ContentKeys []vectorContentKey `json:"content_keys"`
}

type vectorContentKey struct {
	ID        string `json:"id"`
	Key       string `json:"key_TEST_ONLY"` // base64url; a real content key is never written down
	NotBefore int64  `json:"nbf"`
	Expires   int64  `json:"exp"`
}

type vectorRevoked struct {
	Issuer string `json:"iss"`
	JTI    string `json:"jti"`
}

// codeReasons are the reasons Verify can return; every one but
// trust_stale, which depends on the verifier's clock and not on the code,
// must have a vector.
var codeReasons = []Reason{ReasonOK, ReasonMalformed, ReasonOversized, ReasonBadAlgorithm, ReasonWrongType,
	ReasonBadHeader, ReasonTrustStale, ReasonUnknownIssuer, ReasonIssuerSuspended, ReasonUnknownKey,
	ReasonKeyNotActive, ReasonKeyCompromised, ReasonBadSignature, ReasonBadLifetime, ReasonExpired,
	ReasonNotYetValid, ReasonRevoked, ReasonNoContentKey, ReasonBadContent}

var allReasons = append(append([]Reason{}, codeReasons...), ReasonWrongSigner, ReasonRollback, ReasonThreshold, ReasonNotRecipient, ReasonBadChunk,
	ReasonReplayed, ReasonNoLegalBasis, ReasonLookupUnproven)

// vectorReason reads the expected reason from a vector's file name.
func vectorReason(t *testing.T, name string) Reason {
	t.Helper()
	if strings.HasPrefix(name, "good_") {
		return ReasonOK
	}
	var found []Reason
	for _, r := range allReasons {
		if r != ReasonOK && strings.HasPrefix(name, "fail_"+string(r)+"_") {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("vector %s: name does not say one reason (%v)", name, found)
	}
	return found[0]
}

func TestVectors(t *testing.T) {
	if updating("codes") {
		writeVectors(t)
	}
	fx, snap, rev, now := loadVectorFixture(t)
	gdRoot, _, err := ParsePublicJWK(memberOf(t, fx, gd).Root)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Reason]bool{}
	n := forEachVector(t, "code", func(t *testing.T, name, text string, want Reason) {
		seen[want] = true
		if got := Verify(text, snap, rev, now).Reason; got != want {
			t.Errorf("Verify = %q, want %q", got, want)
		}
	})
	for _, r := range codeReasons {
		if !seen[r] && r != ReasonTrustStale {
			t.Errorf("no code vector for reason %q", r)
		}
	}
	n += forEachVector(t, "keyset", func(t *testing.T, name, text string, want Reason) {
		_, err := ParseKeyset(text, gd, gdRoot)
		if got := ReasonOf(err); got != want {
			t.Errorf("ParseKeyset = %q (%v), want %q", got, err, want)
		}
	})
	n += forEachVector(t, "revocation", func(t *testing.T, name, text string, want Reason) {
		_, err := ParseRevocation(text, gd, snap.Keys[gd])
		if got := ReasonOf(err); got != want {
			t.Errorf("ParseRevocation = %q (%v), want %q", got, err, want)
		}
	})
	if n < 40 {
		t.Fatalf("only %d vectors", n)
	}
	// Past the fixture's freshness limit every good code is trust_stale.
	forEachVector(t, "code", func(t *testing.T, name, text string, want Reason) {
		if want == ReasonOK {
			if got := Verify(text, snap, rev, time.Unix(fx.StaleAfter+1, 0)).Reason; got != ReasonTrustStale {
				t.Errorf("after stale_after: %q", got)
			}
		}
	})
}

func forEachVector(t *testing.T, kind string, check func(t *testing.T, name, text string, want Reason)) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectorDir, kind, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s vectors: %v", kind, err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		want := vectorReason(t, name)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(kind+"/"+strings.TrimSuffix(name, ".txt"), func(t *testing.T) {
			check(t, name, strings.TrimSuffix(string(b), "\n"), want)
		})
	}
	return len(files)
}

func memberOf(t *testing.T, fx *vectorFixture, id string) vectorMember {
	t.Helper()
	for _, m := range fx.Members {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("fixture has no member %s", id)
	return vectorMember{}
}

// loadVectorFixture builds a Snapshot from the committed fixture only.
func loadVectorFixture(t testing.TB) (*vectorFixture, *Snapshot, revokedList, time.Time) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, fixtureFile))
	if err != nil {
		t.Fatal(err)
	}
	var fx vectorFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	snap := &Snapshot{Members: map[string]Member{}, Keys: map[string]map[string]*Key{},
		ContentKeys: map[string]map[string]ContentKey{}, StaleAfter: time.Unix(fx.StaleAfter, 0)}
	for _, m := range fx.Members {
		root, rootKID, err := ParsePublicJWK(m.Root)
		if err != nil {
			t.Fatal(err)
		}
		snap.Members[m.ID] = Member{ID: m.ID, Status: m.Status, Root: root, RootKID: rootKID}
		snap.Keys[m.ID] = vectorKeys(t, m.Keys)
		snap.ContentKeys[m.ID] = map[string]ContentKey{}
		for _, c := range m.ContentKeys {
			key, err := base64.RawURLEncoding.DecodeString(c.Key)
			if err != nil {
				t.Fatal(err)
			}
			snap.ContentKeys[m.ID][c.ID] = ContentKey{ID: c.ID, Key: key, NotBefore: time.Unix(c.NotBefore, 0), Expires: time.Unix(c.Expires, 0)}
		}
	}
	rev := revokedList{}
	for _, r := range fx.Revoked {
		rev[[2]string{r.Issuer, r.JTI}] = true
	}
	return &fx, snap, rev, time.Unix(fx.Now, 0)
}

// vectorKeys reads a fixture's keyset entries as a peer holds them.
func vectorKeys(t testing.TB, entries []KeysetEntry) map[string]*Key {
	t.Helper()
	keys := map[string]*Key{}
	for _, e := range entries {
		pub, kid, err := ParsePublicJWK(e.JWK)
		if err != nil {
			t.Fatal(err)
		}
		k := &Key{ID: kid, State: e.State, NotBefore: time.Unix(e.NotBefore, 0), Expires: time.Unix(e.Expires, 0), Public: pub}
		if e.RetiredAt != 0 {
			k.RetiredAt = time.Unix(e.RetiredAt, 0)
		}
		keys[kid] = k
	}
	return keys
}
