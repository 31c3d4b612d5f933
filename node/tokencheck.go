package node

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// A bearer token carries a keyed check: "hct_" and the base64url of a
// random secret followed by a truncated HMAC-SHA256 of it, under a key
// of the node sealed by the KEK. A token whose check fails cannot have
// been issued by the node, and is refused by computation, without a
// database read: a flood of guessed tokens costs the node an HMAC each,
// not a read each, whoever sends it and from however many addresses.
//
// Tokens issued before the check existed are shorter (the secret alone).
// Their hashes were listed when the database was migrated (store
// migration 0013), and only a short token whose hash is on that list is
// looked up; every other short one is refused unread as well.

// Token format limits and labels.
const (
	// tokenSecretLen is the random part of a token, in bytes.
	tokenSecretLen = 32
	// tokenTagLen is the keyed check, in bytes: a guess passes it with
	// probability 2^-128.
	tokenTagLen = 16
	// tokenLen is the length of a token with a check.
	tokenLen = len(tokenPrefix) + (tokenSecretLen+tokenTagLen)*4/3
	// legacyTokenLen is the length of a token issued before the check.
	legacyTokenLen = len(tokenPrefix) + (tokenSecretLen*8+5)/6
	// tokenCheckMeta is the meta row holding the check's key, sealed by
	// the KEK (openSecret).
	tokenCheckMeta = "auth.token_check_key"
	// tokenCheckAAD binds the sealed key to its place.
	tokenCheckAAD = "key:token-check"
	// tokenCheckLabel separates this HMAC's inputs from any other use of
	// the key.
	tokenCheckLabel = "hcfed/token-check/v1\x00"
)

// tokenCheck mints tokens with a check and tells whether a presented
// token may exist. Its fields never change after openTokenCheck.
type tokenCheck struct {
	key []byte
	// legacy holds the first 8 bytes of the hash of each token issued
	// before the check and still stored, sorted: 8 bytes a token, and a
	// random token matches one by chance with probability n·2^-64 (a
	// match only costs the read every token cost before).
	legacy []uint64
}

// openTokenCheck opens the check's key, creating it on first start, and
// reads the list of tokens issued before it.
func openTokenCheck(ctx context.Context, db *store.DB, kek *seal.Key) (tokenCheck, error) {
	key, err := openSecret(ctx, db, kek, tokenCheckMeta, tokenCheckAAD, "the token check key")
	if err != nil {
		return tokenCheck{}, err
	}
	hashes, err := db.LegacyTokens(ctx)
	if err != nil {
		return tokenCheck{}, err
	}
	return newTokenCheck(key, hashes), nil
}

// newTokenCheck is a check under key that lets through the old-form
// tokens whose hashes are legacy.
func newTokenCheck(key []byte, legacy [][]byte) tokenCheck {
	tc := tokenCheck{key: key, legacy: make([]uint64, 0, len(legacy))}
	for _, h := range legacy {
		if len(h) == sha256.Size {
			tc.legacy = append(tc.legacy, binary.BigEndian.Uint64(h))
		}
	}
	slices.Sort(tc.legacy)
	return tc
}

// tag is the keyed check of a token's secret.
func (tc *tokenCheck) tag(secret []byte) []byte {
	m := hmac.New(sha256.New, tc.key)
	m.Write([]byte(tokenCheckLabel))
	m.Write(secret)
	return m.Sum(nil)[:tokenTagLen]
}

// mint draws a token from r and returns it with its hash. Only the hash
// is stored; the token is shown once.
func (tc *tokenCheck) mint(r io.Reader) (string, []byte, error) {
	b := make([]byte, tokenSecretLen, tokenSecretLen+tokenTagLen)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", nil, fmt.Errorf("token: %w", err)
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(append(b, tc.tag(b)...))
	return tok, HashToken(tok), nil
}

// mayExist reports whether token, whose SHA-256 is hash, may have been
// issued by this node: its check holds, or it is of the old form and
// listed. false means it is unknown, without a read.
func (tc *tokenCheck) mayExist(token string, hash [sha256.Size]byte) bool {
	switch len(token) {
	case tokenLen:
		b, err := base64.RawURLEncoding.DecodeString(token[len(tokenPrefix):])
		if err != nil || len(b) != tokenSecretLen+tokenTagLen {
			return false
		}
		return hmac.Equal(tc.tag(b[:tokenSecretLen]), b[tokenSecretLen:])
	case legacyTokenLen:
		_, found := slices.BinarySearch(tc.legacy, binary.BigEndian.Uint64(hash[:]))
		return found
	}
	return false
}
