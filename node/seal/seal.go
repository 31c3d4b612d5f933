// Package seal keeps secrets at rest: a node key-encryption key (KEK) seals
// private keys, content keys and per-subject data keys; a data key seals one
// subject's personal fields. Both use AES-256-GCM from the standard library
// with a fresh random nonce per message and additional data that binds each
// ciphertext to its place, so a ciphertext moved to another row or field
// does not open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// KeyLen is the size of a KEK or data key: AES-256.
const KeyLen = 32

// ErrOpen is returned when a ciphertext does not open: wrong key, wrong
// additional data, or tampering. It says nothing more, on purpose.
var ErrOpen = errors.New("seal: ciphertext does not open")

// Key seals and opens messages under one AES-256-GCM key. It is safe for
// concurrent use.
type Key struct {
	aead cipher.AEAD
}

// NewKey wraps 32 bytes of key material.
func NewKey(k []byte) (*Key, error) {
	if len(k) != KeyLen {
		return nil, fmt.Errorf("seal: key is %d bytes, want %d", len(k), KeyLen)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Key{aead: aead}, nil
}

// Seal encrypts plaintext bound to aad; the result is nonce || ciphertext.
func (k *Key) Seal(aad, plaintext []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		panic("seal: crypto/rand failed: " + err.Error())
	}
	return k.aead.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts what Seal produced with the same aad.
func (k *Key) Open(aad, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, ErrOpen
	}
	out, err := k.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// NewKeyMaterial draws KeyLen random bytes.
func NewKeyMaterial() []byte {
	k := make([]byte, KeyLen)
	if _, err := io.ReadFull(rand.Reader, k); err != nil {
		panic("seal: crypto/rand failed: " + err.Error())
	}
	return k
}

// EnvKEK is the environment variable that, when set, holds the KEK
// (base64) and takes precedence over the key file.
const EnvKEK = "HCNODE_KEK"

// LoadKEK reads the node KEK from $HCNODE_KEK or, if unset, from path. The
// file holds the key in standard base64 and must not be readable by group
// or others.
func LoadKEK(path string) (*Key, error) {
	src := "$" + EnvKEK
	text := os.Getenv(EnvKEK)
	if text == "" {
		if path == "" {
			return nil, fmt.Errorf("seal: no KEK: set %s or kek_file", EnvKEK)
		}
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("seal: the KEK file %s is missing: it is the key that sealed this node's keys and residents' data keys, "+
				"and no new one can open them. Put back the copy kept in custody (or give the KEK in $%s); 'hcnode init' makes one only for a new node: %w",
				path, EnvKEK, err)
		}
		if err != nil {
			return nil, kekReadError(path, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("seal: KEK file %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, kekReadError(path, err)
		}
		text, src = string(b), path
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(k) != KeyLen {
		return nil, fmt.Errorf("seal: KEK from %s is not %d bytes of base64", src, KeyLen)
	}
	return NewKey(k)
}

// kekReadError is the error of a KEK file that is there but cannot be
// read. Refused permission is what staff meet when init ran as root and
// the node runs as its own user (configs/hcnode.service): say whose the
// file must be.
func kekReadError(path string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("seal: the KEK file %s cannot be read by this user (uid %d): the node and its offline commands "+
			"run as the user that owns the data directory (hcnode in configs/hcnode.service); make that user own the "+
			"file, keeping mode 0600 (chown hcnode: %s), or run the command as that user: %w", path, os.Getuid(), path, err)
	}
	return fmt.Errorf("seal: KEK file: %w", err)
}

// WriteKEKFile creates a new random KEK at path with mode 0600. It refuses
// to overwrite an existing file: losing a KEK loses every key it sealed.
func WriteKEKFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("seal: create KEK file: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(NewKeyMaterial()) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
