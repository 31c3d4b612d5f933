package node

import (
	"context"
	"encoding/base64"
	"errors"

	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// openSecret opens a random key of the node (the case tags' HMAC key, the
// tokens' check key), making it on the first start: it is kept in
// node.db's meta under metaKey, sealed by the KEK with aad binding it to
// its place, so that a copy of node.db without the KEK does not give it
// away. what names it in errors ("the token check key").
func openSecret(ctx context.Context, db *store.DB, kek *seal.Key, metaKey, aad, what string) ([]byte, error) {
	v, err := db.MetaOnce(ctx, metaKey, base64.StdEncoding.EncodeToString(kek.Seal([]byte(aad), seal.NewKeyMaterial())))
	if err != nil {
		return nil, err
	}
	sealed, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, errors.New(what + " in the database is malformed")
	}
	key, err := kek.Open([]byte(aad), sealed)
	if err != nil {
		return nil, wrongKEK(what, err)
	}
	return key, nil
}
