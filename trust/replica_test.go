package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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
