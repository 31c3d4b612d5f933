package store

import (
	"strings"
	"testing"
	"time"
)

func TestPutStatementKeepsNewestVersion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	put := func(key string, version uint64, raw string) {
		t.Helper()
		err := db.PutStatement(ctx, Statement{Key: key, Raw: []byte(raw), Version: version, Received: t0.Add(time.Duration(version) * time.Minute)})
		if err != nil {
			t.Fatalf("PutStatement %s v%d: %v", key, version, err)
		}
	}
	want := func(key string, version uint64, raw string) {
		t.Helper()
		s, err := db.Statement(ctx, key)
		if err != nil || s.Version != version || string(s.Raw) != raw {
			t.Fatalf("Statement %s = v%d %q, %v; want v%d %q", key, s.Version, s.Raw, err, version, raw)
		}
	}
	put("440000.keyset", 2, "keyset-v2")
	put("440000.keyset", 1, "keyset-v1") // late replay: ignored
	want("440000.keyset", 2, "keyset-v2")
	put("440000.keyset", 3, "keyset-v3")
	want("440000.keyset", 3, "keyset-v3")
	put("440000.keyset", 3, "keyset-v3-resigned")
	want("440000.keyset", 3, "keyset-v3-resigned")
	put("110000.keyset", 7, "bj")

	all, err := db.Statements(ctx)
	if err != nil || len(all) != 2 || all[0].Key != "110000.keyset" || all[1].Version != 3 {
		t.Fatalf("Statements = %+v, %v", all, err)
	}
	if !all[1].Received.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("Received = %v, want the v3 time", all[1].Received)
	}
	_, err = db.Statement(ctx, "nope")
	wantErr(t, err, ErrNotFound)
	wantErr(t, db.PutStatement(ctx, Statement{Key: "k", Raw: []byte("x"), Version: 1 << 63}), ErrInvalid)
}

func TestDeleteStatementsRemovesOnlyCoveredKeysOfThePrefix(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := t.Context()
	for _, s := range []Statement{
		{Key: "440000.revocations.1", Raw: []byte("a"), Version: 1},
		{Key: "440000.revocations.2", Raw: []byte("b"), Version: 2},
		{Key: "440000.revocations.3", Raw: []byte("c"), Version: 3},
		{Key: "440000.keyset", Raw: []byte("k"), Version: 1},
		{Key: "310000.revocations.1", Raw: []byte("d"), Version: 1},
		{Key: "440000_revocations.1", Raw: []byte("e"), Version: 1},
	} {
		if err := db.PutStatement(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteStatements(ctx, "440000.revocations.", 2); err != nil {
		t.Fatal(err)
	}
	left, err := db.Statements(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range left {
		keys = append(keys, s.Key)
	}
	want := "310000.revocations.1,440000.keyset,440000.revocations.3,440000_revocations.1"
	if got := strings.Join(keys, ","); got != want {
		t.Fatalf("left %s, want %s", got, want)
	}
}
