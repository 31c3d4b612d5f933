package node

import (
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// testTokenCheck is a token check under a fresh random key, with no
// tokens of the old form.
func testTokenCheck(t testing.TB) tokenCheck {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return newTokenCheck(key, nil)
}

// A token minted under one key passes its check and no other node's; an
// old-form token passes only when listed.
func TestTokenCheckTellsMintedAndListedTokensFromGuesses(t *testing.T) {
	tc, other := testTokenCheck(t), testTokenCheck(t)
	tok, hash, err := tc.mint(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != tokenLen || [sha256.Size]byte(hash) != sha256.Sum256([]byte(tok)) {
		t.Fatalf("minted %q (%d chars), want %d chars and its SHA-256 as hash", tok, len(tok), tokenLen)
	}
	if !tc.mayExist(tok, sha256.Sum256([]byte(tok))) {
		t.Fatal("a minted token fails its own check")
	}
	if other.mayExist(tok, sha256.Sum256([]byte(tok))) {
		t.Fatal("a token minted under another key passes the check")
	}
	legacy := tokenPrefix + "q2Xh0kJ8bW5mZ3R5dWlvcGFzZGZnaGprbHp4Y3Zibm0"
	if len(legacy) != legacyTokenLen {
		t.Fatalf("legacy vector is %d chars, want %d", len(legacy), legacyTokenLen)
	}
	lh := sha256.Sum256([]byte(legacy))
	if tc.mayExist(legacy, lh) {
		t.Fatal("an unlisted old-form token passes the check")
	}
	listed := newTokenCheck(tc.key, [][]byte{lh[:]})
	if !listed.mayExist(legacy, lh) || !listed.mayExist(tok, sha256.Sum256([]byte(tok))) {
		t.Fatal("a listed old-form token, or a minted one, fails the check of a node that lists old tokens")
	}
	for _, bad := range []string{tok[:len(tok)-1] + "!", tok + "A", tok[:len(tok)-1], tokenPrefix + string(make([]byte, 64))} {
		if tc.mayExist(bad, sha256.Sum256([]byte(bad))) {
			t.Errorf("%q passes the check", bad)
		}
	}
}
