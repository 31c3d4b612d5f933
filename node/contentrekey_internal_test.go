package node

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/trust"
)

// rekeySchedule is a key schedule with only what rekeyContent uses.
func rekeySchedule(t *testing.T) *keySchedule {
	t.Helper()
	kek, err := seal.NewKey(seal.NewKeyMaterial())
	if err != nil {
		t.Fatal(err)
	}
	return &keySchedule{kek: kek, province: "440000", cfg: config.Keys{ContentEpoch: 24 * time.Hour}}
}

// keyIDs are the ids of kc's content keys.
func keyIDs(kc *keyChange) []string {
	var ids []string
	for _, ck := range kc.kr.content {
		ids = append(ids, ck.ID)
	}
	slices.Sort(ids)
	return ids
}

// A new content key started for a suspension replaces this epoch's and
// the next epoch's keys: the old key of this epoch stays (codes were
// issued under it), the old next key, which encrypted nothing, goes, and
// the next rekey moves on one generation again.
func TestRekeyContentKeepsThisEpochsKeyAndDropsTheNextOne(t *testing.T) {
	ks := rekeySchedule(t)
	now := time.Unix(20788*86400+3600, 0)
	kc := &keyChange{kr: &keyring{}, now: now}
	for _, at := range []time.Time{now, now.Add(24 * time.Hour)} {
		if err := ks.addContentKey(kc, at, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := ks.rekeyContent(kc); err != nil {
		t.Fatal(err)
	}
	if got, want := keyIDs(kc), []string{"440000/20788", "440000/20788.1", "440000/20789.1"}; !slices.Equal(got, want) {
		t.Fatalf("keys after a rekey: %v, want %v", got, want)
	}
	if !slices.Equal(kc.w.Delete, []string{"440000/20789"}) {
		t.Fatalf("dropped %v, want the old next key only", kc.w.Delete)
	}
	if err := ks.rekeyContent(kc); err != nil {
		t.Fatal(err)
	}
	for epoch, want := range map[string]string{"20788": "440000/20788.2", "20789": "440000/20789.2"} {
		if got := kc.kr.currentContentKey("440000", epoch); got == nil || got.ID != want {
			t.Errorf("current key of epoch %s after two rekeys: %v, want %s", epoch, got, want)
		}
	}
}

// The node's own live content keys never pass what one grant carries: a
// rekey beyond that is refused and changes nothing.
func TestRekeyContentStaysWithinWhatAGrantCarries(t *testing.T) {
	ks := rekeySchedule(t)
	now := time.Unix(20788*86400, 0)
	kc := &keyChange{kr: &keyring{}, now: now}
	for i := range maxOwnContentKeys - 1 {
		if err := ks.addContentKey(kc, now.Add(-time.Duration(i)*time.Hour), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ks.rekeyContent(kc); !errors.Is(err, errTooManyContentKeys) {
		t.Fatalf("rekey holding %d keys: %v, want errTooManyContentKeys", len(kc.kr.content), err)
	}
	if n := len(kc.kr.content); n != maxOwnContentKeys-1 {
		t.Fatalf("a refused rekey left %d keys, want %d", n, maxOwnContentKeys-1)
	}
	if maxOwnContentKeys > trust.MaxGrantKeys {
		t.Fatalf("maxOwnContentKeys %d is more than a grant carries (%d)", maxOwnContentKeys, trust.MaxGrantKeys)
	}
}

func TestContentKeyGenerationIsReadOnlyFromItsCanonicalForm(t *testing.T) {
	for _, c := range []struct {
		id   string
		gen  int64
		isOf bool
	}{
		{"440000/20788", 0, true},
		{"440000/20788.1", 1, true},
		{"440000/20788.12", 12, true},
		{"440000/20788.1767225600000", 1767225600000, true}, // after a restore (restorecontent.go)
		{"440000/20788.0", 0, false},
		{"440000/20788.01", 0, false},
		{"440000/20788.-1", 0, false},
		{"440000/207881", 0, false},
		{"440000/20789", 0, false},
		{"310000/20788", 0, false},
	} {
		gen, ok := contentKeyGen(c.id, "440000/20788")
		if gen != c.gen || ok != c.isOf {
			t.Errorf("contentKeyGen(%q) = %d, %v; want %d, %v", c.id, gen, ok, c.gen, c.isOf)
		}
	}
}
