package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Key kinds in the store.
const (
	kindRoot    = "root"
	kindSign    = "sign"
	kindEnc     = "enc"
	kindContent = "content"
)

// signKey is one of the node's signing keys with its private half.
type signKey struct {
	row  store.KeyRow
	priv *ecdsa.PrivateKey
}

func (k *signKey) trustKey() *trust.Key {
	return &trust.Key{ID: k.row.KID, State: trust.KeyState(k.row.State), NotBefore: k.row.NotBefore,
		RetiredAt: k.row.RetiredAt, Expires: k.row.Expires, Public: &k.priv.PublicKey}
}

// keyring is the node's own key material, opened from the store.
type keyring struct {
	root    *ecdsa.PrivateKey // the active root: signs the keyset
	roots   []rootKey         // every root held: active, next (awaiting the trust list), retired
	enc     *ecdsa.PrivateKey
	sign    []*signKey // by NotBefore
	content []trust.ContentKey
}

func (kr *keyring) active() *signKey {
	for _, k := range kr.sign {
		if k.row.State == string(trust.KeyActive) {
			return k
		}
	}
	return nil
}

func (kr *keyring) next() *signKey {
	for _, k := range kr.sign {
		if k.row.State == string(trust.KeyNext) {
			return k
		}
	}
	return nil
}

// clone copies the keyring for a key change to work on: rows are copied,
// private keys (never modified) shared.
func (kr *keyring) clone() *keyring {
	c := &keyring{root: kr.root, enc: kr.enc, roots: append([]rootKey(nil), kr.roots...),
		content: append([]trust.ContentKey(nil), kr.content...)}
	for _, k := range kr.sign {
		cp := *k
		c.sign = append(c.sign, &cp)
	}
	return c
}

// adopt takes over o's keys once a key change committed. enc never
// changes and is left alone: other goroutines read it without keySchedule.mu.
func (kr *keyring) adopt(o *keyring) {
	kr.root, kr.roots, kr.sign, kr.content = o.root, o.roots, o.sign, o.content
}

func keyAAD(kid string) []byte { return []byte("key:" + kid) }

// rootKey is one of the province's root keys.
type rootKey struct {
	row  store.KeyRow
	priv *ecdsa.PrivateKey
}

// rootByKID returns the root key with that thumbprint, or nil.
func (kr *keyring) rootByKID(kid string) *rootKey {
	for i := range kr.roots {
		if kr.roots[i].row.KID == kid {
			return &kr.roots[i]
		}
	}
	return nil
}

// newECKeyRow generates a P-256 key and its sealed row.
func newECKeyRow(kek *seal.Key, kind, state string, nbf, exp, now time.Time) (store.KeyRow, *ecdsa.PrivateKey, error) {
	priv, err := trust.GenerateKey(nil)
	if err != nil {
		return store.KeyRow{}, nil, err
	}
	use := "sig"
	if kind == kindEnc {
		use = "enc"
	}
	jwk, err := trust.PublicJWK(&priv.PublicKey, use)
	if err != nil {
		return store.KeyRow{}, nil, err
	}
	pub, err := json.Marshal(jwk)
	if err != nil {
		return store.KeyRow{}, nil, err
	}
	der, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return store.KeyRow{}, nil, err
	}
	return store.KeyRow{KID: jwk.KeyID, Kind: kind, State: state, NotBefore: nbf, Expires: exp,
		Public: pub, Sealed: kek.Seal(keyAAD(jwk.KeyID), der), Created: now}, priv, nil
}

// wrongKEK is the error for a key of the database that the KEK given does
// not open: the KEK of another data directory (another province's, or
// $HCNODE_KEK left over from one), or a file replaced by a new one. It
// tells staff where the node took its KEK from and what to do.
func wrongKEK(what string, err error) error {
	return fmt.Errorf("the KEK does not open %s of this database: it is not the KEK this data directory was "+
		"initialised with (%s wins over kek_file when set); give the node its own KEK, from the province's offline "+
		"copy if need be, and start it again. Nothing was changed: %w", what, "$"+seal.EnvKEK, err)
}

func openECKey(kek *seal.Key, row store.KeyRow) (*ecdsa.PrivateKey, error) {
	der, err := kek.Open(keyAAD(row.KID), row.Sealed)
	if err != nil {
		return nil, wrongKEK("key "+row.KID, err)
	}
	return x509.ParseECPrivateKey(der)
}

// epochOf returns the content-key epoch containing t.
func epochOf(t time.Time, epoch time.Duration) (id string, start, end time.Time) {
	sec := int64(epoch / time.Second)
	idx := epochIndex(t, epoch)
	return strconv.FormatInt(idx, 10), time.Unix(idx*sec, 0), time.Unix((idx+1)*sec, 0)
}

// epochIndex is the number of the content-key epoch containing t.
func epochIndex(t time.Time, epoch time.Duration) int64 { return t.Unix() / int64(epoch/time.Second) }

// InitKeys creates a new province's keys: root, encryption, the first
// active signing key and the current content key. It refuses a database
// that already has keys.
func InitKeys(ctx context.Context, db *store.DB, kek *seal.Key, province string, rotation, epoch time.Duration, now time.Time) error {
	if roots, err := db.Keys(ctx, kindRoot); err != nil {
		return err
	} else if len(roots) > 0 {
		return Errorf(EConflict, "this node already has keys; refusing to replace them")
	}
	far := now.Add(100 * 365 * 24 * time.Hour)
	rows := make([]store.KeyRow, 0, 4)
	for _, k := range []struct {
		kind, state string
		exp         time.Time
	}{
		{kindRoot, "active", far},
		{kindEnc, "active", far},
		{kindSign, string(trust.KeyActive), now.Add(rotation + trust.MaxCodeLifetime)},
	} {
		row, _, err := newECKeyRow(kek, k.kind, k.state, now, k.exp, now)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	ck, err := newContentKeyRow(kek, province, now, epoch, 0)
	if err != nil {
		return err
	}
	rows = append(rows, ck)
	return db.ChangeKeys(ctx, store.KeyChange{Insert: rows, Meta: map[string]string{"province": province}})
}

// newContentKeyRow makes the content key of t's epoch of generation gen:
// 0 on the schedule, more when a member left good standing
// (contentrekey.go) or after a restore (restorecontent.go), which names
// it "<province>/<epoch>.<gen>".
func newContentKeyRow(kek *seal.Key, province string, t time.Time, epoch time.Duration, gen int64) (store.KeyRow, error) {
	id, start, end := epochOf(t, epoch)
	kid := trust.ContentKeyID(province, id)
	if gen > 0 {
		kid += "." + strconv.FormatInt(gen, 10)
	}
	k := seal.NewKeyMaterial()
	return store.KeyRow{KID: kid, Kind: kindContent, State: "active", NotBefore: start,
		Expires: end.Add(trust.MaxCodeLifetime), Sealed: kek.Seal(keyAAD(kid), k), Created: t}, nil
}

// loadKeyring opens every key of the node.
func loadKeyring(ctx context.Context, db *store.DB, kek *seal.Key) (*keyring, error) {
	if at, _ := db.GetMeta(ctx, "sunset.at"); at != "" {
		return nil, Errorf(EUnavailable, "this node was sunset: its purpose has ended and its personal data and keys are gone")
	}
	kr := &keyring{}
	for _, kind := range []string{kindRoot, kindEnc} {
		rows, err := db.Keys(ctx, kind)
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return nil, Errorf(EUnavailable, "no %s key: run 'hcnode init' first", kind)
		}
		if kind == kindEnc {
			if kr.enc, err = openECKey(kek, rows[len(rows)-1]); err != nil {
				return nil, err
			}
			continue
		}
		for _, row := range rows {
			priv, err := openECKey(kek, row)
			if err != nil {
				return nil, err
			}
			kr.roots = append(kr.roots, rootKey{row: row, priv: priv})
			if row.State == "active" {
				kr.root = priv // the newest active root
			}
		}
		if kr.root == nil {
			return nil, Errorf(EUnavailable, "no active root key")
		}
	}
	rows, err := db.Keys(ctx, kindSign)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		priv, err := openECKey(kek, row)
		if err != nil {
			return nil, err
		}
		kr.sign = append(kr.sign, &signKey{row: row, priv: priv})
	}
	sort.Slice(kr.sign, func(i, j int) bool { return kr.sign[i].row.NotBefore.Before(kr.sign[j].row.NotBefore) })
	crow, err := db.Keys(ctx, kindContent)
	if err != nil {
		return nil, err
	}
	for _, row := range crow {
		k, err := kek.Open(keyAAD(row.KID), row.Sealed)
		if err != nil {
			return nil, wrongKEK("content key "+row.KID, err)
		}
		kr.content = append(kr.content, trust.ContentKey{ID: row.KID, Key: k, NotBefore: row.NotBefore, Expires: row.Expires})
	}
	return kr, nil
}

// RootPublicJWK returns the province root public key as a JWK, for the
// federation operators to list in the trust list.
func RootPublicJWK(ctx context.Context, db *store.DB, kek *seal.Key) ([]byte, error) {
	kr, err := loadKeyring(ctx, db, kek)
	if err != nil {
		return nil, err
	}
	jwk, err := trust.PublicJWK(&kr.root.PublicKey, "sig")
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(jwk, "", "  ")
}
