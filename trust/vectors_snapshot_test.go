package trust

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The "snapshot" vector set: Guangdong's revocation snapshots, checked
// against snapshot_fixture_TEST_ONLY.json (public keys and a fixed now).
// A vector file holds the signed manifest, a newline, and the chunks'
// bytes as unpadded base64url (the bundle's body is binary).
// Regenerate with: go test ./trust -run TestSnapshotVectors -update=snapshot
const snapshotFixtureFile = "snapshot_fixture_TEST_ONLY.json"

type snapshotFixture struct {
	Comment string                   `json:"comment"`
	Now     int64                    `json:"now"`
	Keys    map[string][]KeysetEntry `json:"keys"`
}

func TestSnapshotVectors(t *testing.T) {
	if updating("snapshot") {
		writeSnapshotVectors(t)
	}
	b, err := os.ReadFile(filepath.Join(vectorDir, snapshotFixtureFile))
	if err != nil {
		t.Fatal(err)
	}
	var fx snapshotFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	keys := vectorKeys(t, fx.Keys[gd])
	var good, bad int
	forEachVector(t, "snapshot", func(t *testing.T, name, text string, want Reason) {
		if want == ReasonOK {
			good++
		} else {
			bad++
		}
		manifest, body64, _ := strings.Cut(text, "\n")
		body, err := base64.RawURLEncoding.DecodeString(body64)
		if err != nil {
			t.Fatalf("vector body: %v", err)
		}
		r, err := ParseRevocationSnapshot(BundleSnapshot(manifest, body), gd, keys)
		if got := ReasonOf(err); got != want {
			t.Fatalf("snapshot = %q (%v), want %q", got, err, want)
		}
		if err == nil && len(r.Entries()) != r.Count {
			t.Fatalf("snapshot decodes %d entries, manifest says %d", len(r.Entries()), r.Count)
		}
	})
	if good < 2 || bad < 8 {
		t.Fatalf("%d good and %d fail snapshot vectors", good, bad)
	}
}

// writeSnapshotVectors regenerates the snapshot vector set and fixture.
func writeSnapshotVectors(t *testing.T) {
	f := newTestFederation(t, testNow)
	now, g := f.Now, f.GD
	fx := snapshotFixture{
		Comment: "TEST ONLY. Verifier-side fixture for the snapshot vectors beside it: public signing keys. " +
			"Regenerate with: go test ./trust -run TestSnapshotVectors -update=snapshot",
		Now:  now.Unix(),
		Keys: map[string][]KeysetEntry{gd: g.keyset(t, 1, now).Keys},
	}
	b, err := json.MarshalIndent(fx, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vectorDir, snapshotFixtureFile), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	var w SnapshotEncoder
	var body []byte
	for range 3 {
		c, err := w.Add(mustJTI(t), now.Add(time.Hour).Unix())
		if err != nil {
			t.Fatal(err)
		}
		body = append(body, c...)
	}
	body = append(body, w.Flush()...)
	m := w.Manifest(gd, 42, now.Unix())
	edited := func(edit func(*SnapshotManifest)) SnapshotManifest {
		c := m
		c.Chunks = append([]SnapshotChunk(nil), m.Chunks...)
		edit(&c)
		return c
	}
	vec := func(manifest string, body []byte) string {
		return manifest + "\n" + base64.RawURLEncoding.EncodeToString(body)
	}
	good := mustSign(t, g.Active, TypSnapshot, m)
	tampered := append([]byte(nil), body...)
	tampered[5] ^= 1
	// A chunk whose hash matches but whose entry has no expiry.
	zeroExp := append([]byte(nil), body...)
	binary.BigEndian.PutUint32(zeroExp[SnapshotEntryLen+JTILen:], 0)
	zm := edited(func(m *SnapshotManifest) { m.Chunks[0].SHA256 = sha256b64(zeroExp) })
	extra, _ := json.Marshal(m)
	extraRaw, _ := g.Active.SignBytes(TypSnapshot, []byte(strings.Replace(string(extra), `{"iss"`, `{"iss_sh":"x","iss"`, 1)))
	var empty SnapshotEncoder
	writeFuzzCorpus(t, "FuzzParseRevocationSnapshot", "[]byte", []string{string(BundleSnapshot(good, body)),
		string(BundleSnapshot(good, tampered)), string(BundleSnapshot(extraRaw, body)), string(BundleSnapshot(good, zeroExp))})
	writeVectorDir(t, filepath.Join(vectorDir, "snapshot"), map[string]string{
		"good_active_key":  vec(good, body),
		"good_retired_key": vec(mustSign(t, g.Retired, TypSnapshot, m), body),
		"good_empty":       vec(mustSign(t, g.Active, TypSnapshot, empty.Manifest(gd, 42, now.Unix())), nil),

		"fail_bad_chunk_tampered":       vec(good, tampered),
		"fail_bad_chunk_truncated":      vec(good, body[:len(body)-SnapshotEntryLen]),
		"fail_bad_chunk_extra_entry":    vec(good, append(append([]byte(nil), body...), body[:SnapshotEntryLen]...)),
		"fail_unknown_key_sh_key":       vec(mustSign(t, f.SH.Active, TypSnapshot, m), body),
		"fail_wrong_signer_issuer_sh":   vec(mustSign(t, g.Active, TypSnapshot, edited(func(m *SnapshotManifest) { m.Issuer = sh })), body),
		"fail_key_compromised_signer":   vec(mustSign(t, g.Compromised, TypSnapshot, m), body),
		"fail_key_not_active_next":      vec(mustSign(t, g.Next, TypSnapshot, m), body),
		"fail_malformed_zero_exp":       vec(mustSign(t, g.Active, TypSnapshot, zm), zeroExp),
		"fail_malformed_count_mismatch": vec(mustSign(t, g.Active, TypSnapshot, edited(func(m *SnapshotManifest) { m.Count = 4 })), body),
		"fail_malformed_unknown_format": vec(mustSign(t, g.Active, TypSnapshot, edited(func(m *SnapshotManifest) { m.Format = "json" })), body),
		"fail_malformed_empty_chunk":    vec(mustSign(t, g.Active, TypSnapshot, edited(func(m *SnapshotManifest) { m.Chunks = append(m.Chunks, SnapshotChunk{SHA256: m.Chunks[0].SHA256}) })), body),
		"fail_oversized_count":          vec(mustSign(t, g.Active, TypSnapshot, edited(func(m *SnapshotManifest) { m.Count = MaxSnapshotEntries + 1 })), body),
		"fail_malformed_unknown_field":  vec(extraRaw, body),
		"fail_bad_chunk_no_body":        good,
		"fail_wrong_type_revocation":    vec(mustSign(t, g.Active, TypRevocation, m), body),
		"fail_bad_signature_flipped":    vec(flipSig(t, good), body),
		"fail_bad_header_jwk": vec(forgeJWS(t, g.Active.key, `{"alg":"ES256","jwk":`+string(jwkJSON(t, g.Active.Public()))+
			`,"kid":"`+g.Active.KeyID()+`","typ":"`+TypSnapshot+`"}`, string(extra)), body),
	})
}
