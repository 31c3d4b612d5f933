package federation

import (
	"errors"
	"strings"
	"testing"
)

func TestTopicNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		topic   Topic
		subject string
		key     string // "" when there is none
	}{
		{Topic{Kind: KindTrustList}, "hcfed.demo.trustlist", "trustlist"},
		{Topic{Kind: KindKeyset, Province: "440000"}, "hcfed.demo.440000.keyset", "440000.keyset"},
		{Topic{Kind: KindContentKey, Province: "440000", Peer: "310000"}, "hcfed.demo.440000.contentkey.310000", "440000.contentkey.310000"},
		{Topic{Kind: KindRevocations, Province: "110000"}, "hcfed.demo.110000.revocations", ""},
		{Topic{Kind: KindHeartbeat, Province: "310000"}, "hcfed.demo.310000.heartbeat", "310000.heartbeat"},
		{Topic{Kind: KindRevSnapshot, Province: "310000"}, "hcfed.demo.310000.revsnapshot", "310000.revsnapshot"},
		{Topic{Kind: KindSnapshotRequest, Province: "310000", Peer: "440000"}, "hcfed.demo.310000.snapreq.440000", ""},
	} {
		subject, err := tc.topic.Subject(testFed)
		if err != nil || subject != tc.subject {
			t.Errorf("%v.Subject = %q, %v; want %q", tc.topic, subject, err, tc.subject)
		}
		back, err := ParseSubject(testFed, tc.subject)
		if err != nil || back != tc.topic {
			t.Errorf("ParseSubject(%q) = %+v, %v", tc.subject, back, err)
		}
		key, err := tc.topic.Key()
		if tc.key == "" {
			if err == nil {
				t.Errorf("%v.Key = %q, want an error", tc.topic, key)
			}
			continue
		}
		if err != nil || key != tc.key {
			t.Errorf("%v.Key = %q, %v; want %q", tc.topic, key, err, tc.key)
		}
		back, err = ParseKey(tc.key)
		if err != nil || back != tc.topic {
			t.Errorf("ParseKey(%q) = %+v, %v", tc.key, back, err)
		}
	}
}

func TestNamesRefuseBadIDs(t *testing.T) {
	t.Parallel()
	for _, fed := range []string{"", "Demo", "de.mo", "de mo", "*", ">", "demo.>", strings.Repeat("a", 33), "démo"} {
		if err := ValidateFederation(fed); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateFederation(%q) = %v", fed, err)
		}
		if _, err := (Topic{Kind: KindTrustList}).Subject(fed); err == nil {
			t.Errorf("trust list subject accepted federation %q", fed)
		}
	}
	for _, p := range []string{"", "44000", "4400000", "44000a", "*", ">", "440000.>", "44.000", "４４００００"} {
		if err := ValidateProvince(p); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateProvince(%q) = %v", p, err)
		}
		for _, topic := range []Topic{
			{Kind: KindKeyset, Province: p},
			{Kind: KindContentKey, Province: "440000", Peer: p},
			{Kind: KindRevocations, Province: p},
		} {
			if s, err := topic.Subject(testFed); !errors.Is(err, ErrInvalidName) {
				t.Errorf("%+v.Subject = %q, %v", topic, s, err)
			}
		}
	}
	for _, topic := range []Topic{
		{Kind: "keyset.>", Province: "440000"},
		{Kind: "", Province: "440000"},
		{Kind: KindTrustList, Province: "440000"},
		{Kind: KindKeyset, Province: "440000", Peer: "310000"},
		{Kind: KindContentKey, Province: "440000"},
		{Kind: KindSnapshotRequest, Province: "440000"},
	} {
		if err := topic.Validate(); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%+v.Validate = %v", topic, err)
		}
	}
}

func TestParseRefusesForeignShapes(t *testing.T) {
	t.Parallel()
	for _, key := range []string{
		"", ".", "keyset", "440000", "440000.keyset.x", "440000.revocations", "440000.trustlist",
		"440000.contentkey", "440000.contentkey.31000", "440000.unknown", "trustlist.x", "*.keyset", ">",
		"440000.snapreq.310000", "440000.snapreq",
	} {
		if tp, err := ParseKey(key); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ParseKey(%q) = %+v, %v", key, tp, err)
		}
	}
	for _, subject := range []string{
		"", "hcfed", "hcfed.demo", "hcfed.other.440000.keyset", "nats.demo.440000.keyset",
		"hcfed.demo.440000", "hcfed.demo.*.revocations", "hcfed.demo.440000.keyset.extra",
	} {
		if tp, err := ParseSubject(testFed, subject); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ParseSubject(%q) = %+v, %v", subject, tp, err)
		}
	}
}
