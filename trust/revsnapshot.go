package trust

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
)

// A revocation snapshot is a small signed manifest plus binary chunks.
//
// Each entry is SnapshotEntryLen bytes: the code's 16-byte jti followed by
// its expiry as a big-endian uint32 of Unix seconds. Entries are grouped
// into chunks of at most SnapshotChunkEntries; the manifest (a compact JWS
// of TypSnapshot) names the issuer, seq, the entry count and, per chunk,
// its entry count and SHA-256. A peer verifies the manifest's signature
// and then each chunk against its hash, so chunks may travel over any
// untrusted store. Random jtis do not compress, so chunks are not
// compressed.
//
// The "bundle" is the one-piece form that State and the statement cache
// take: the manifest, a newline (never part of a compact JWS), and the
// chunks' bytes concatenated in manifest order.

// SnapshotFormat is the manifest's "fmt": the entry encoding above.
const SnapshotFormat = "jti16exp32"

// SnapshotEntryLen is the encoded size of one snapshot entry.
const SnapshotEntryLen = JTILen + 4

// SnapshotChunk describes one chunk in a manifest.
type SnapshotChunk struct {
	Entries int    `json:"n"`
	SHA256  string `json:"sha256"` // unpadded base64url
}

// SnapshotManifest is the signed payload of a revocation snapshot.
type SnapshotManifest struct {
	Issuer   string          `json:"iss"`
	Seq      uint64          `json:"seq"`
	IssuedAt int64           `json:"iat"`
	Format   string          `json:"fmt"`
	Count    int             `json:"count"`
	Chunks   []SnapshotChunk `json:"chunks"`
}

// RevocationSnapshot is a verified snapshot: a province's every revocation
// of a live code up to and including Seq, the catch-up point for new or
// long-offline peers. Its entries stay in their compact encoding.
type RevocationSnapshot struct {
	Issuer   string
	Seq      uint64
	IssuedAt int64
	Count    int
	body     []byte // Count entries of SnapshotEntryLen bytes
}

// Entries decodes the snapshot's entries (for tests and tools; State reads
// the compact form directly).
func (r *RevocationSnapshot) Entries() []RevocationEntry {
	out := make([]RevocationEntry, 0, r.Count)
	for i := 0; i < r.Count; i++ {
		jti, exp := snapshotEntry(r.body, i)
		out = append(out, RevocationEntry{JTI: b64url.EncodeToString(jti[:]), Expires: int64(exp)})
	}
	return out
}

func snapshotEntry(body []byte, i int) (jti [JTILen]byte, exp uint32) {
	e := body[i*SnapshotEntryLen : (i+1)*SnapshotEntryLen]
	copy(jti[:], e)
	return jti, binary.BigEndian.Uint32(e[JTILen:])
}

// SnapshotEncoder builds a snapshot's chunks one entry at a time, so a
// publisher holds at most one chunk of entries at once.
type SnapshotEncoder struct {
	buf    []byte
	chunks []SnapshotChunk
	count  int
}

// Add appends one entry. When that fills a chunk it returns the chunk's
// bytes, which stay valid only until the next call: store them first.
func (w *SnapshotEncoder) Add(jti string, exp int64) ([]byte, error) {
	if w.count >= MaxSnapshotEntries {
		return nil, fail(ReasonOversized, fmt.Sprintf("over %d snapshot entries", MaxSnapshotEntries))
	}
	var id [JTILen]byte
	if !decodeJTI(jti, &id) || exp <= 0 || exp > math.MaxUint32 {
		return nil, fail(ReasonMalformed, "revocation entry")
	}
	if w.buf == nil {
		w.buf = make([]byte, 0, SnapshotChunkEntries*SnapshotEntryLen)
	}
	w.buf = append(w.buf, id[:]...)
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(exp))
	w.count++
	if len(w.buf) == SnapshotChunkEntries*SnapshotEntryLen {
		return w.cut(), nil
	}
	return nil, nil
}

// Flush returns the last, partly filled chunk, or nil if there is none.
func (w *SnapshotEncoder) Flush() []byte {
	if len(w.buf) == 0 {
		return nil
	}
	return w.cut()
}

func (w *SnapshotEncoder) cut() []byte {
	sum := sha256.Sum256(w.buf)
	w.chunks = append(w.chunks, SnapshotChunk{Entries: len(w.buf) / SnapshotEntryLen, SHA256: b64url.EncodeToString(sum[:])})
	c := w.buf
	w.buf = w.buf[:0]
	return c
}

// Manifest returns the manifest to sign once every chunk is flushed.
func (w *SnapshotEncoder) Manifest(iss string, seq uint64, iat int64) SnapshotManifest {
	return SnapshotManifest{Issuer: iss, Seq: seq, IssuedAt: iat, Format: SnapshotFormat, Count: w.count,
		Chunks: append([]SnapshotChunk(nil), w.chunks...)}
}

// BuildRevocationSnapshot encodes and signs entries as one bundle: for
// tests, tools and small snapshots. Publishers of large ones stream
// through SnapshotEncoder.
func BuildRevocationSnapshot(s *StatementSigner, iss string, seq uint64, iat int64, entries []RevocationEntry) ([]byte, error) {
	var w SnapshotEncoder
	var body []byte
	for _, e := range entries {
		c, err := w.Add(e.JTI, e.Expires)
		if err != nil {
			return nil, err
		}
		body = append(body, c...)
	}
	body = append(body, w.Flush()...)
	m, err := s.Sign(TypSnapshot, w.Manifest(iss, seq, iat))
	if err != nil {
		return nil, err
	}
	return BundleSnapshot(m, body), nil
}

// BundleSnapshot joins a signed manifest and its chunks' bytes, in order.
// A publisher that holds them apart can store the two parts one after
// the other instead of copying them into one slice.
func BundleSnapshot(manifest string, chunks ...[]byte) []byte {
	n := len(manifest) + 1
	for _, c := range chunks {
		n += len(c)
	}
	out := make([]byte, 0, n)
	out = append(out, manifest...)
	out = append(out, '\n')
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

// SplitSnapshot separates a bundle into its manifest and chunk bytes,
// without verifying either.
func SplitSnapshot(bundle []byte) (manifest string, body []byte, err error) {
	i := bytes.IndexByte(bundle, '\n')
	if i < 0 {
		return "", nil, fail(ReasonMalformed, "snapshot bundle has no manifest line")
	}
	if i > MaxStatementLen {
		return "", nil, fail(ReasonOversized, fmt.Sprintf("snapshot manifest of %d bytes", i))
	}
	return string(bundle[:i]), bundle[i+1:], nil
}

// ParseSnapshotManifest verifies a snapshot manifest signed by one of
// province's usable keys and checks its shape; it does not see the chunks.
func ParseSnapshotManifest(raw string, province string, keys map[string]*Key) (*SnapshotManifest, error) {
	var m SnapshotManifest
	if err := parseSignedByProvince(raw, TypSnapshot, province, keys, &m); err != nil {
		return nil, err
	}
	if m.Issuer != province {
		return nil, fail(ReasonWrongSigner, fmt.Sprintf("snapshot of %q on the subject of %q", m.Issuer, province))
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// check verifies a manifest's shape: known format, counts that add up
// within the limits, well-formed hashes.
func (m *SnapshotManifest) check() error {
	if m.Format != SnapshotFormat {
		return fail(ReasonMalformed, fmt.Sprintf("snapshot format %q", m.Format))
	}
	if m.Count < 0 || m.Count > MaxSnapshotEntries || len(m.Chunks) > MaxSnapshotChunks {
		return fail(ReasonOversized, fmt.Sprintf("snapshot of %d entries in %d chunks", m.Count, len(m.Chunks)))
	}
	n := 0
	for _, c := range m.Chunks {
		if c.Entries <= 0 || c.Entries > SnapshotChunkEntries {
			return fail(ReasonMalformed, fmt.Sprintf("snapshot chunk of %d entries", c.Entries))
		}
		if len(c.SHA256) != b64url.EncodedLen(sha256.Size) {
			return fail(ReasonMalformed, "snapshot chunk hash")
		}
		n += c.Entries
	}
	if n != m.Count {
		return fail(ReasonMalformed, fmt.Sprintf("snapshot chunks hold %d entries, manifest says %d", n, m.Count))
	}
	return nil
}

// CheckChunk reports whether data is chunk i of the manifest: the right
// size and hash. A mismatch fails with ReasonBadChunk.
func (m *SnapshotManifest) CheckChunk(i int, data []byte) error {
	if i < 0 || i >= len(m.Chunks) {
		return fail(ReasonBadChunk, fmt.Sprintf("no chunk %d", i))
	}
	c := m.Chunks[i]
	if len(data) != c.Entries*SnapshotEntryLen {
		return fail(ReasonBadChunk, fmt.Sprintf("chunk %d is %d bytes, want %d", i, len(data), c.Entries*SnapshotEntryLen))
	}
	sum := sha256.Sum256(data)
	if b64url.EncodeToString(sum[:]) != c.SHA256 {
		return fail(ReasonBadChunk, fmt.Sprintf("chunk %d hash differs from the manifest", i))
	}
	for j := 0; j < c.Entries; j++ {
		if _, exp := snapshotEntry(data, j); exp == 0 {
			return fail(ReasonMalformed, fmt.Sprintf("chunk %d entry %d has no expiry", i, j))
		}
	}
	return nil
}

// ParseRevocationSnapshot verifies a snapshot bundle: the manifest's
// signature by one of province's usable keys (as ParseRevocation), then
// every chunk against the manifest.
func ParseRevocationSnapshot(bundle []byte, province string, keys map[string]*Key) (*RevocationSnapshot, error) {
	raw, body, err := SplitSnapshot(bundle)
	if err != nil {
		return nil, err
	}
	m, err := ParseSnapshotManifest(raw, province, keys)
	if err != nil {
		return nil, err
	}
	if len(body) != m.Count*SnapshotEntryLen {
		return nil, fail(ReasonBadChunk, fmt.Sprintf("snapshot body is %d bytes, manifest says %d entries", len(body), m.Count))
	}
	off := 0
	for i, c := range m.Chunks {
		end := off + c.Entries*SnapshotEntryLen
		if err := m.CheckChunk(i, body[off:end]); err != nil {
			return nil, err
		}
		off = end
	}
	return &RevocationSnapshot{Issuer: m.Issuer, Seq: m.Seq, IssuedAt: m.IssuedAt, Count: m.Count, body: body}, nil
}

// decodeJTI decodes a code id's text into id, reporting whether it is one.
func decodeJTI(s string, id *[JTILen]byte) bool {
	if len(s) != jtiTextLen {
		return false
	}
	n, err := base64.RawURLEncoding.Strict().Decode(id[:], []byte(s))
	return err == nil && n == JTILen
}

// jtiTextLen is the length of a code id's text.
var jtiTextLen = base64.RawURLEncoding.EncodedLen(JTILen)
