package node

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"io"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// A wallet link's replacement (ReplaceResidentToken) revokes the old
// phone's codes everywhere, and the revocation statement says nothing of
// why: a peer must not learn whether a resident's status changed or their
// phone was lost. A node restored from a backup taken before the
// replacement holds the old link as valid again, and takes the
// revocation back from the federation without knowing it replaced a
// link; revoking the links of every resident whose codes were revoked
// since would also cut the link of everyone whose status changed.
//
// So the replacement's statement carries one more entry, a link marker:
// a code id that is the AES encryption, under a key only this node holds,
// of a random nonce and the resident's id. To a peer it is one more
// revoked code id, as random as any, with an expiry a code of the day
// could have; to this node, restored, it names whose link was replaced
// (restore.go), which no one else can forge or read. A marker is also
// written as a revoked code without a resident, so that snapshots carry
// it as they carry the code ids around it.

// Link marker layout and labels.
const (
	// linkMarkerLabel derives the marker key from the token check key
	// (tokencheck.go), a key every backup since tokens carried a check
	// holds: a key made for markers alone would be missing from a backup
	// taken before it existed, and the markers made after it unreadable.
	linkMarkerLabel = "hcfed/link-marker/v1\x00"
	// linkMarkerNonceLen is the random part of a marker: the same
	// resident's markers look unrelated but for a chance of 2^-32.
	linkMarkerNonceLen = trust.JTILen - subjectIDLen
	// subjectIDLen is the random part of a subject id ("s_" and the
	// base64url of 12 bytes, randomID).
	subjectIDLen = 12
	// subjectIDPrefix starts every subject id.
	subjectIDPrefix = "s_"
)

// linkMarker makes and reads link markers. Its block never changes.
type linkMarker struct{ block cipher.Block }

// newLinkMarker derives the marker key from the token check key.
func newLinkMarker(checkKey []byte) linkMarker {
	m := hmac.New(sha256.New, checkKey)
	m.Write([]byte(linkMarkerLabel))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic("node: link marker key: " + err.Error()) // 32 bytes: cannot fail
	}
	return linkMarker{block: block}
}

// entry is the marker of subjectID's replaced link, with an expiry drawn
// from (now, now+lifetime], as a phone code live at now may have; none
// (JTI "") if subjectID is not of the form randomID makes.
func (lm linkMarker) entry(subjectID string, now time.Time, lifetime time.Duration, r io.Reader) (store.RevocationEntry, error) {
	id, ok := subjectIDBytes(subjectID)
	if !ok {
		return store.RevocationEntry{}, nil
	}
	var b [trust.JTILen]byte
	if _, err := io.ReadFull(r, b[:linkMarkerNonceLen]); err != nil {
		return store.RevocationEntry{}, err
	}
	copy(b[linkMarkerNonceLen:], id)
	lm.block.Encrypt(b[:], b[:])
	var d [4]byte
	if _, err := io.ReadFull(r, d[:]); err != nil {
		return store.RevocationEntry{}, err
	}
	secs := max(1, int64(lifetime/time.Second))
	after := time.Duration(1+int64(binary.BigEndian.Uint32(d[:]))%secs) * time.Second
	return store.RevocationEntry{JTI: base64.RawURLEncoding.EncodeToString(b[:]), Expires: now.Add(after).Truncate(time.Second)}, nil
}

// subjects returns, for each entry, the subject id its code id would
// name if it were a marker. Any code id decodes to some id: only one
// that names an existing resident was a marker (a code id of a real code
// names one with probability residents·2^-96), which the store checks.
func (lm linkMarker) subjects(es []trust.RevocationEntry) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		b, err := base64.RawURLEncoding.Strict().DecodeString(e.JTI)
		if err != nil || len(b) != trust.JTILen {
			continue
		}
		lm.block.Decrypt(b, b)
		out = append(out, subjectIDPrefix+base64.RawURLEncoding.EncodeToString(b[linkMarkerNonceLen:]))
	}
	return out
}

// subjectIDBytes is the random part of a subject id made by randomID.
func subjectIDBytes(id string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(id, subjectIDPrefix)
	if !ok {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	return b, err == nil && len(b) == subjectIDLen
}
