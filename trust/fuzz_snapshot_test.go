package trust

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// FuzzRevocationSnapshotBody fuzzes the entries of a revocation snapshot
// behind an honest manifest: the body is cut into chunks of a fuzzed
// size, each hashed into a manifest that Guangdong signs, as a peer whose
// encoder has a bug (or whose key was stolen) would publish it. Mutating
// a bundle only ever breaks its signature or a chunk hash, which
// FuzzParseRevocationSnapshot covers. The parser takes the bundle exactly
// when the body is whole entries, none without an expiry; what it takes
// re-encodes to the same bytes through SnapshotEncoder, and a peer's
// revoked set then holds exactly the jtis with a live entry.
func FuzzRevocationSnapshotBody(f *testing.F) {
	fed := newTestFederation(f, testNow)
	var live []byte
	for _, exp := range []int64{testNow.Unix() + 60, testNow.Unix() - 3600, 1} {
		var id [JTILen]byte
		if !decodeJTI(mustJTI(f), &id) {
			f.Fatal("mustJTI gave no jti")
		}
		live = binary.BigEndian.AppendUint32(append(live, id[:]...), uint32(exp))
	}
	f.Add(live, uint16(1))
	f.Add(live, uint16(2))
	f.Add(live[:SnapshotEntryLen], uint16(0))
	f.Add(live[:SnapshotEntryLen-1], uint16(0))
	f.Add(append(live[:JTILen:JTILen], 0, 0, 0, 0), uint16(0)) // no expiry
	f.Add([]byte(nil), uint16(0))
	f.Fuzz(func(t *testing.T, body []byte, per uint16) {
		size := 1 + int(per)%SnapshotChunkEntries
		var chunks []SnapshotChunk
		for off := 0; off+SnapshotEntryLen <= len(body); off += size * SnapshotEntryLen {
			end := min(off+size*SnapshotEntryLen, len(body)-len(body)%SnapshotEntryLen)
			sum := sha256.Sum256(body[off:end])
			chunks = append(chunks, SnapshotChunk{Entries: (end - off) / SnapshotEntryLen, SHA256: b64url.EncodeToString(sum[:])})
		}
		m := SnapshotManifest{Issuer: gd, Seq: 7, IssuedAt: testNow.Unix(), Format: SnapshotFormat,
			Count: len(body) / SnapshotEntryLen, Chunks: chunks}
		raw, err := fed.GD.Active.Sign(TypSnapshot, m)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := ParseRevocationSnapshot(BundleSnapshot(raw, body), gd, fed.GD.Keys)
		knownReason(t, err)
		whole := len(body)%SnapshotEntryLen == 0
		for i := 0; whole && i < len(body)/SnapshotEntryLen; i++ {
			_, exp := snapshotEntry(body, i)
			whole = exp != 0
		}
		if (err == nil) != whole {
			t.Fatalf("body of %d bytes in chunks of %d entries: err %v, whole entries with expiries %v", len(body), size, err, whole)
		}
		if err != nil {
			return
		}
		var w SnapshotEncoder
		var again []byte
		for _, e := range snap.Entries() {
			c, err := w.Add(e.JTI, e.Expires)
			if err != nil {
				t.Fatalf("accepted entry %+v does not encode: %v", e, err)
			}
			again = append(again, c...)
		}
		if again = append(again, w.Flush()...); !bytes.Equal(again, body) {
			t.Fatalf("entries of %x re-encode as %x", body, again)
		}
		set := revokedSet{m: map[string]map[[JTILen]byte]uint32{}}
		set.addSnapshot(gd, snap, testNow, MaxLiveRevocations)
		want := map[string]bool{}
		for _, e := range snap.Entries() {
			if e.Expires > testNow.Add(-ClockSkew).Unix() {
				want[e.JTI] = true
			}
		}
		for _, e := range snap.Entries() {
			if set.has(gd, e.JTI) != want[e.JTI] {
				t.Fatalf("entry %+v: held %v, want %v", e, set.has(gd, e.JTI), want[e.JTI])
			}
		}
		if len(set.m[gd]) != len(want) {
			t.Fatalf("revoked set holds %d jtis, want the %d live ones", len(set.m[gd]), len(want))
		}
	})
}
