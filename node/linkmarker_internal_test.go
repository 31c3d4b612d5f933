package node

import (
	"bytes"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// TestLinkMarkerNamesItsSubjectToItsKeyOnly: a marker read back with the
// key that made it names its subject; two markers of one subject differ;
// with another key, or for a code id that is no marker, it names someone
// else; its expiry is one a phone code live now could have.
func TestLinkMarkerNamesItsSubjectToItsKeyOnly(t *testing.T) {
	t.Parallel()
	lm, other := newLinkMarker(bytes.Repeat([]byte{1}, 32)), newLinkMarker(bytes.Repeat([]byte{2}, 32))
	const subject = "s_AAECAwQFBgcICQoL"
	now := time.Unix(1_800_000_000, 0)
	a, err := lm.entry(subject, now, 24*time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := lm.entry(subject, now, 24*time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if a.JTI == b.JTI {
		t.Error("two markers of one subject are equal: a peer could link them")
	}
	for _, m := range []string{a.JTI, b.JTI} {
		es := []trust.RevocationEntry{{JTI: m, Expires: a.Expires.Unix()}}
		if got := lm.subjects(es); !slices.Equal(got, []string{subject}) {
			t.Errorf("marker read back: %v, want [%s]", got, subject)
		}
		if got := other.subjects(es); slices.Contains(got, subject) {
			t.Error("another key reads the marker's subject")
		}
	}
	if !a.Expires.After(now) || a.Expires.After(now.Add(24*time.Hour)) {
		t.Errorf("marker expires %v, want within a phone code's lifetime of %v", a.Expires, now)
	}
	code := trust.RevocationEntry{JTI: "AAAAAAAAAAAAAAAAAAAAAA", Expires: 1}
	if got := lm.subjects([]trust.RevocationEntry{code}); len(got) != 1 || got[0] == subject {
		t.Errorf("a code id read as a marker: %v", got)
	}
	if m, err := lm.entry("not-a-subject-id", now, time.Hour, rand.Reader); err != nil || m.JTI != "" {
		t.Errorf("marker of an id randomID did not make: %+v, %v; want none", m, err)
	}
}
