package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"
)

func TestReplicaContentKeysOpenOnlyWithTheReplicaKey(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	mine, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := NewContentKey(ContentKeyID("440000", "20261130"), now, now.Add(48*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := SealContentKeys([]ContentKey{ck}, &mine.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenContentKeys(sealed, other); ReasonOf(err) != ReasonNotRecipient {
		t.Fatalf("opened with another key: %v", err)
	}
	got, err := OpenContentKeys(sealed, mine)
	if err != nil || len(got) != 1 || got[0].ID != ck.ID || string(got[0].Key) != string(ck.Key) {
		t.Fatalf("open: %v %+v", err, got)
	}
	st, err := NewState(StateConfig{Self: "440000"})
	if err != nil {
		t.Fatal(err)
	}
	st.SetContentKeys(got, now)
	if _, ok := st.Snapshot().ContentKeys["440000"][ck.ID]; !ok {
		t.Fatal("content key not installed")
	}
	st.SetContentKeys(nil, now)
	if len(st.Snapshot().ContentKeys["440000"]) != 0 {
		t.Fatal("content key kept after the home node stopped sending it")
	}
}

// A replica's signature of a records body verifies only with its own
// signing key and only over that body; a fingerprint reads back as typed.
func TestReplicaRecordsSignatureBindsKeyAndBody(t *testing.T) {
	sig, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"records":[]}`)
	s, err := SignReplicaRecords(sig, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyReplicaRecords(s, body, &sig.PublicKey); err != nil {
		t.Fatalf("own signature: %v", err)
	}
	if err := VerifyReplicaRecords(s, []byte(`{"records":[{}]}`), &sig.PublicKey); ReasonOf(err) != ReasonBadSignature {
		t.Fatalf("another body: %v", err)
	}
	if err := VerifyReplicaRecords(s, body, &other.PublicKey); ReasonOf(err) != ReasonUnknownKey {
		t.Fatalf("another key: %v", err)
	}
	fp, err := ReplicaFingerprint(&other.PublicKey, &sig.PublicKey)
	if err != nil || len(fp) != 39 {
		t.Fatalf("fingerprint %q, %v", fp, err)
	}
	if swapped, _ := ReplicaFingerprint(&sig.PublicKey, &other.PublicKey); swapped == fp {
		t.Fatal("the fingerprint does not tell the enc key from the signing key")
	}
	typed := " " + strings.ToLower(strings.ReplaceAll(fp, "-", "")) + " "
	if got, ok := ParseReplicaFingerprint(typed); !ok || got != fp {
		t.Fatalf("parse %q: %q %v, want %q", typed, got, ok, fp)
	}
	if _, ok := ParseReplicaFingerprint(fp[:len(fp)-1]); ok {
		t.Fatal("a fingerprint one character short parsed")
	}
}
