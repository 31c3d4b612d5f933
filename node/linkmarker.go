package node

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"io"
	"slices"
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
// a code id made to look like the id of a phone code this node issued
// and which was still live, with the expiry that code would have, but
// which names, to this node alone, the resident whose link was replaced.
// Its 16 bytes are:
//
//	t (6)   a time within one phone-code lifetime before the replacement,
//	        in Unix milliseconds, as trust.NewCodeID begins a code id;
//	        the entry's expiry is the one a phone code issued at t gets
//	r (2)   random
//	x (8)   tag XOR AES_m(t || r || 0^8)[:8], where tag =
//	        HMAC-SHA256_g(subject id)[:8]
//
// with m and g keys only this node holds (linkMarkerKeys). A real code
// id's last 10 bytes are random, and AES_m(t || r || 0^8) is
// indistinguishable from random to anyone without m as long as no two
// markers share t and r (per pair, one chance in 2^16 times the lifetime
// in milliseconds; even then the two x differ by the XOR of two tags,
// random too): so to a peer a marker is one more revoked phone code id,
// as random as any, with an expiry consistent with its time; two markers
// of one resident look unrelated. Restored, this node unmasks each entry
// it takes back and looks the 8 bytes up among the tags of the residents
// holding a link (restore.go). Among n of them, a code id of a real code
// names one with probability n·2^-64, a marker names a resident other
// than its own with the same probability, and two residents share a tag
// with probability n²·2^-65 (for ten million, about 1 in 370,000): the
// other's link would be cut by the first's marker.
//
// Markers made before tags had 8 bytes carried a tag of 6 (the first 6
// bytes of the same HMAC) and two zero bytes after it: an entry whose
// last two bytes unmask to zero is also looked up by its first 6, so a
// node restored past an upgrade still finds the links replaced before
// it. Among n residents two shared such a tag with probability n²·2^-49
// (for ten million, 1/6), and a marker of either named both.
//
// A marker is also written as a revoked code without a resident, so that
// snapshots carry it as they carry the code ids around it.

// Link marker layout and labels.
const (
	// linkMarkerMaskLabel and linkMarkerTagLabel derive the marker keys
	// from the token check key (tokencheck.go), a key every backup since
	// tokens carried a check holds: a key made for markers alone would be
	// missing from a backup taken before it existed, and the markers made
	// after it unreadable.
	linkMarkerMaskLabel = "hcfed/link-marker/mask/v1\x00"
	linkMarkerTagLabel  = "hcfed/link-marker/tag/v1\x00"
	// codeIDTimeLen is how many bytes of time begin a code id
	// (trust.NewCodeID: Unix milliseconds, big-endian).
	codeIDTimeLen = 6
	// linkMarkerNonceLen is r: markers made in the same millisecond
	// share their mask only if they also share r.
	linkMarkerNonceLen = 2
	// linkMarkerHeadLen is the part of a marker in clear, t and r, from
	// which its mask is drawn.
	linkMarkerHeadLen = codeIDTimeLen + linkMarkerNonceLen
	// linkMarkerTagLen is the tag, the rest of a marker.
	linkMarkerTagLen = trust.JTILen - linkMarkerHeadLen
	// linkMarkerOldTagLen is the tag of the markers made before tags had
	// linkMarkerTagLen bytes: its first bytes, the others zero.
	linkMarkerOldTagLen = 6
)

// markerTag is the tag of a subject id in its link markers.
type markerTag [linkMarkerTagLen]byte

// oldMarkerTag is the tag of a subject id in its markers made before
// tags had linkMarkerTagLen bytes.
type oldMarkerTag [linkMarkerOldTagLen]byte

// linkMarker makes and reads link markers. It never changes.
type linkMarker struct {
	mask   cipher.Block // AES under m: draws a marker's mask from its head
	tagKey []byte       // g: the HMAC-SHA256 key of tags
}

// newLinkMarker derives the marker keys from the token check key.
func newLinkMarker(checkKey []byte) linkMarker {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, checkKey)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive(linkMarkerMaskLabel))
	if err != nil {
		panic("node: link marker key: " + err.Error()) // 32 bytes: cannot fail
	}
	return linkMarker{mask: block, tagKey: derive(linkMarkerTagLabel)}
}

// entry is the marker of subjectID's replaced link made at now: its
// time drawn from (now-lifetime, now], so that a phone code issued then
// would still be live, and its expiry expiry(t), the one issuance gives
// a phone code issued at t (codes.phoneExpiry). If the node's keys
// expired before t, so that no code could be issued at t, the expiry is
// t+lifetime, to the second.
func (lm linkMarker) entry(subjectID string, now time.Time, lifetime time.Duration, expiry func(iat time.Time) time.Time, r io.Reader) (store.RevocationEntry, error) {
	var draw [8 + linkMarkerNonceLen]byte
	if _, err := io.ReadFull(r, draw[:]); err != nil {
		return store.RevocationEntry{}, err
	}
	span := uint64(max(1, lifetime.Milliseconds()))
	// A lifetime is at most 7 days, under 2^30 ms: 64 random bits
	// modulo it are uniform but for a bias below 2^-34.
	t := time.UnixMilli(now.UnixMilli() - int64(binary.BigEndian.Uint64(draw[:8])%span))
	var b [trust.JTILen]byte
	ms := uint64(t.UnixMilli())
	for i := range codeIDTimeLen {
		b[i] = byte(ms >> (8 * (codeIDTimeLen - 1 - i)))
	}
	copy(b[codeIDTimeLen:linkMarkerHeadLen], draw[8:])
	tag := lm.tag(subjectID)
	copy(b[linkMarkerHeadLen:], tag[:])
	lm.xorMask(b[:])
	exp := expiry(t)
	if !exp.After(t) {
		exp = time.Unix(t.Add(lifetime).Unix(), 0)
	}
	return store.RevocationEntry{JTI: base64.RawURLEncoding.EncodeToString(b[:]), Expires: exp}, nil
}

// xorMask masks (or unmasks) the tag of the marker b with
// AES_m(head || 0^8).
func (lm linkMarker) xorMask(b []byte) {
	var mask [aes.BlockSize]byte
	copy(mask[:], b[:linkMarkerHeadLen])
	lm.mask.Encrypt(mask[:], mask[:])
	for i := linkMarkerHeadLen; i < trust.JTILen; i++ {
		b[i] ^= mask[i-linkMarkerHeadLen]
	}
}

// tag is subjectID's tag in its markers.
func (lm linkMarker) tag(subjectID string) markerTag {
	m := hmac.New(sha256.New, lm.tagKey)
	m.Write([]byte(subjectID))
	var t markerTag
	copy(t[:], m.Sum(nil))
	return t
}

// read returns the tag the code id jti carries if it is a marker: any
// code id may be.
func (lm linkMarker) read(jti string) (markerTag, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(jti)
	if err != nil || len(b) != trust.JTILen {
		return markerTag{}, false
	}
	lm.xorMask(b)
	return markerTag(b[linkMarkerHeadLen:]), true
}

// old returns the tag of a marker made before tags had linkMarkerTagLen
// bytes that t is, if it may be one: its last bytes are zero, as a
// real code id's are by chance with probability 2^-16. It is also the
// old tag of the subject whose tag t is.
func (t markerTag) old() (oldMarkerTag, bool) {
	nonzero := func(c byte) bool { return c != 0 }
	return oldMarkerTag(t[:linkMarkerOldTagLen]), !slices.ContainsFunc(t[linkMarkerOldTagLen:], nonzero)
}

// nameLinks sets the Links of each of pubs: the subjects, among those
// holders returns (the residents holding a link), whose markers its
// entries are. holders is called, and the tags of its subjects computed,
// only if some statement has an entry.
func (lm linkMarker) nameLinks(pubs []store.Published, holders func() ([]string, error)) error {
	byTag, byOldTag := map[markerTag][]int{}, map[oldMarkerTag][]int{} // the statements each tag is in
	for i, p := range pubs {
		for _, e := range p.Entries {
			tag, ok := lm.read(e.JTI)
			if !ok {
				continue
			}
			byTag[tag] = append(byTag[tag], i)
			if old, ok := tag.old(); ok {
				byOldTag[old] = append(byOldTag[old], i)
			}
		}
	}
	if len(byTag) == 0 {
		return nil
	}
	ids, err := holders()
	if err != nil {
		return err
	}
	for _, id := range ids {
		tag := lm.tag(id)
		old, _ := tag.old()
		named := slices.Concat(byTag[tag], byOldTag[old])
		slices.Sort(named)
		for _, i := range slices.Compact(named) {
			pubs[i].Links = append(pubs[i].Links, id)
		}
	}
	return nil
}
