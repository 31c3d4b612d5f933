package trust

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the statements a node receives from peers. Mutating a
// signed statement only ever breaks its signature, which FuzzCompact-
// Malleability already covers; these targets fuzz the payload instead and
// sign (and seal) each input with the sender's key, so that every byte
// reaches the reader behind the signature check, where a peer's own
// mistakes or a stolen key would land. Seeds: f.Add below and
// testdata/fuzz/<FuzzName>/.

// signedPayload signs payload as typ with s, as a peer would.
func signedPayload(t testing.TB, s *StatementSigner, typ string, payload []byte) string {
	t.Helper()
	raw, err := s.SignBytes(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// payloadOf returns the payload bytes of a compact statement.
func payloadOf(t testing.TB, raw string) []byte {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", raw)
	}
	b, err := b64Decode(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustJSON marshals v or fails.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// knownReason fails t unless err carries one of the reasons this package
// documents.
func knownReason(t *testing.T, err error) {
	t.Helper()
	r := ReasonOf(err)
	if !slices.Contains(allReasons, r) && r != ReasonNotMember && r != ReasonRateLimited {
		t.Fatalf("unknown reason %q (%v)", r, err)
	}
	if err != nil && r == ReasonOK {
		t.Fatalf("refusal with reason ok: %v", err)
	}
}

// FuzzParseRevocation: a revocation delta Guangdong signed, whatever its
// payload, is either refused with a known reason or names Guangdong and
// holds at most MaxRevocationEntries well-formed entries, read exactly as
// the strict decoder reads it; signed again from what was read, it parses
// to the same value.
func FuzzParseRevocation(f *testing.F) {
	fed := newTestFederation(f, testNow)
	jti := mustJTI(f)
	f.Add(mustJSON(f, Revocation{Issuer: gd, Seq: 7, IssuedAt: testNow.Unix(), Entries: []RevocationEntry{{JTI: jti, Expires: testNow.Unix() + 60}}}))
	f.Add([]byte(`{"iss":"440000","seq":1,"iat":1,"entries":[]}`))
	f.Add([]byte(`{"iss":"440000","seq":1,"iat":1,"entries":null}`))
	f.Add([]byte(`{"iss":"440000","seq":1,"ISS":"310000","iat":1,"entries":[]}`))
	f.Add([]byte(`{"iss":"440000","seq":1,"iat":1,"entries":[{"jti":"` + jti + `","exp":-1}]}`))
	f.Add([]byte(`{"iss":"310000","seq":1,"iat":1,"entries":[]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := ParseRevocation(signedPayload(t, fed.GD.Active, TypRevocation, payload), gd, fed.GD.Keys)
		knownReason(t, err)
		if err != nil {
			return
		}
		if r.Issuer != gd || len(r.Entries) > MaxRevocationEntries {
			t.Fatalf("accepted revocation of %q with %d entries", r.Issuer, len(r.Entries))
		}
		for _, e := range r.Entries {
			if !isJTI(e.JTI) || e.Expires <= 0 {
				t.Fatalf("accepted entry %+v", e)
			}
		}
		var strict Revocation
		if err := decodeStrict(payload, &strict); err != nil || !reflect.DeepEqual(&strict, r) {
			t.Fatalf("%q: read as %+v, the strict decoder reads %+v (%v)", payload, r, strict, err)
		}
		again, err := ParseRevocation(signedPayload(t, fed.GD.Active, TypRevocation, mustJSON(t, r)), gd, fed.GD.Keys)
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("%+v re-signed parses as %+v (%v)", r, again, err)
		}
	})
}

// FuzzParseSnapshotManifest: a snapshot manifest Guangdong signed is
// refused with a known reason or names Guangdong, the known format, and
// chunks within the limits whose entries add up to its count.
func FuzzParseSnapshotManifest(f *testing.F) {
	fed := newTestFederation(f, testNow)
	bundle, err := BuildRevocationSnapshot(fed.GD.Active, gd, 9, testNow.Unix(),
		[]RevocationEntry{{JTI: mustJTI(f), Expires: testNow.Unix() + 60}, {JTI: mustJTI(f), Expires: testNow.Unix() + 90}})
	if err != nil {
		f.Fatal(err)
	}
	m, _, err := SplitSnapshot(bundle)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(payloadOf(f, m))
	f.Add([]byte(`{"iss":"440000","seq":1,"iat":1,"fmt":"` + SnapshotFormat + `","count":0,"chunks":[]}`))
	f.Add([]byte(`{"iss":"440000","seq":1,"iat":1,"fmt":"` + SnapshotFormat + `","count":-1,"chunks":[]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := ParseSnapshotManifest(signedPayload(t, fed.GD.Active, TypSnapshot, payload), gd, fed.GD.Keys)
		knownReason(t, err)
		if err != nil {
			return
		}
		if m.Issuer != gd || m.Format != SnapshotFormat || m.Count < 0 || m.Count > MaxSnapshotEntries || len(m.Chunks) > MaxSnapshotChunks {
			t.Fatalf("accepted manifest %+v", m)
		}
		n := 0
		for _, c := range m.Chunks {
			if c.Entries <= 0 || c.Entries > SnapshotChunkEntries {
				t.Fatalf("accepted chunk %+v", c)
			}
			n += c.Entries
		}
		if n != m.Count {
			t.Fatalf("accepted manifest whose chunks hold %d entries, count %d", n, m.Count)
		}
	})
}

// FuzzOpenContentKeyGrant: a grant Shanghai signed, whatever its payload,
// gives Guangdong either a known refusal or 1 to MaxGrantKeys whole
// AES-256 keys, every one of them Shanghai's own.
func FuzzOpenContentKeyGrant(f *testing.F) {
	fed := newTestFederation(f, testNow)
	next := fed.SH.CK
	next.ID += "-next"
	raw, err := GrantContentKeys(fed.SH.Active, sh, gd, &fed.GD.Enc.PublicKey, []ContentKey{fed.SH.CK, next}, testNow)
	if err != nil {
		f.Fatal(err)
	}
	good := payloadOf(f, raw)
	f.Add(good)
	f.Add(bytes.Replace(good, []byte(`"310000/`), []byte(`"440000/`), 1))
	f.Add(bytes.Replace(good, []byte(`"to":"440000"`), []byte(`"to":"110000"`), 1))
	f.Add([]byte(`{"iss":"310000","to":"440000","keys":[]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		cks, err := OpenContentKeyGrant(signedPayload(t, fed.SH.Active, TypContentKey, payload), sh, fed.SH.Keys, gd, fed.GD.Enc)
		knownReason(t, err)
		if err != nil {
			if cks != nil {
				t.Fatalf("refusal %v returns keys", err)
			}
			return
		}
		if len(cks) == 0 || len(cks) > MaxGrantKeys {
			t.Fatalf("accepted %d keys", len(cks))
		}
		for _, ck := range cks {
			if !strings.HasPrefix(ck.ID, sh+"/") || len(ck.ID) == len(sh)+1 || len(ck.Key) != ContentKeyLen {
				t.Fatalf("accepted content key %q of %d bytes", ck.ID, len(ck.Key))
			}
		}
	})
}

// FuzzParseHeartbeat: a heartbeat Guangdong signed is refused with a known
// reason, or holds no field a Heartbeat does not have (unknown fields are
// refused) and reads back the same once re-signed.
func FuzzParseHeartbeat(f *testing.F) {
	fed := newTestFederation(f, testNow)
	f.Add(mustJSON(f, Heartbeat{Issuer: gd, IssuedAt: testNow.Unix(), KeysetVersion: 3, ContentKeyID: fed.GD.CK.ID, RevocationSeq: 12, TrustListVersion: 2}))
	f.Add([]byte(`{"iss":"440000","iat":1,"extra":1}`))
	f.Add([]byte(`{"iss":"440000","iat":1} {}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var hb Heartbeat
		err := ParseSigned(signedPayload(t, fed.GD.Active, TypHeartbeat, payload), TypHeartbeat, gd, fed.GD.Keys, &hb)
		knownReason(t, err)
		if err != nil {
			return
		}
		var fields map[string]json.RawMessage
		if json.Unmarshal(payload, &fields) != nil {
			t.Fatalf("accepted %q, which is not a JSON object", payload)
		}
		known := []string{"iss", "iat", "keyset_version", "ckid", "revocation_seq", "trustlist_version"}
		for k := range fields {
			if !slices.ContainsFunc(known, func(n string) bool { return strings.EqualFold(n, k) }) {
				t.Fatalf("accepted heartbeat with unknown field %q", k)
			}
		}
		var again Heartbeat
		if err := ParseSigned(signedPayload(t, fed.GD.Active, TypHeartbeat, mustJSON(t, hb)), TypHeartbeat, gd, fed.GD.Keys, &again); err != nil || again != hb {
			t.Fatalf("%+v re-signed parses as %+v (%v)", hb, again, err)
		}
	})
}

// FuzzOpenReceipt: a receipt Shanghai signed and sealed to Guangdong is
// refused with a known reason, or is Shanghai's, addressed to Guangdong,
// fresh, and passes Validate (ids, entry count, days in the window).
func FuzzOpenReceipt(f *testing.F) {
	fed := newTestFederation(f, testNow)
	f.Add(mustJSON(f, receipt(f, testNow, 2)))
	yesterday := receipt(f, testNow, 1)
	yesterday.Entries[0].Day = ReceiptDay(testNow.AddDate(0, 0, -2))
	f.Add(mustJSON(f, yesterday))
	f.Add([]byte(`{"iss":"310000","to":"440000","iat":1,"nonce":"","entries":[]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		raw, err := sealTo([]byte(signedPayload(t, fed.SH.Active, TypReceipt, payload)), sealedCty, &fed.GD.Enc.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		r, err := OpenReceipt(raw, sh, fed.SH.Keys, gd, fed.GD.Enc, testNow)
		knownReason(t, err)
		if err != nil {
			return
		}
		if r.Issuer != sh || r.To != gd || r.Validate() != nil || fresh(r.IssuedAt, testNow) != nil {
			t.Fatalf("accepted receipt %+v (%v)", r, r.Validate())
		}
	})
}

// FuzzOpenLookupAnswer: an answer Guangdong signed to Shanghai's request
// is refused with a known reason, or says one thing only — found with a
// bounded contact, refused with a reason token, or not found.
func FuzzOpenLookupAnswer(f *testing.F) {
	fed := newTestFederation(f, testNow)
	req := lookupReq(f, testNow)
	found, err := AnswerLookup(fed.GD.Active, &req, &fed.SH.Enc.PublicKey, &Contact{Name: "张三", Phone: "13800000000"}, testNow)
	if err != nil {
		f.Fatal(err)
	}
	refused, err := RefuseLookup(fed.GD.Active, &req, ReasonRateLimited, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(payloadOf(f, found))
	f.Add(payloadOf(f, refused))
	f.Add(mustJSON(f, LookupAnswer{Issuer: gd, To: sh, Nonce: req.Nonce, IssuedAt: testNow.Unix()}))
	f.Fuzz(func(t *testing.T, payload []byte) {
		res, err := OpenLookupAnswer(signedPayload(t, fed.GD.Active, TypLookupAnswer, payload), &req, fed.GD.Keys, fed.SH.Enc, testNow)
		knownReason(t, err)
		if err != nil {
			if res != (LookupResult{}) {
				t.Fatalf("refusal %v carries %+v", err, res)
			}
			return
		}
		switch {
		case res.Refused != "":
			if res.Found || res.Contact != (Contact{}) || !isReasonToken(res.Refused) {
				t.Fatalf("refusal with data: %+v", res)
			}
		case res.Found:
			if res.Contact.validate() != nil {
				t.Fatalf("accepted contact %+v", res.Contact)
			}
		case res.Contact != (Contact{}):
			t.Fatalf("not found, with a contact: %+v", res)
		}
	})
}

// FuzzOpenContentKeys: content keys a replica's home sealed to it, whatever
// the plaintext, are refused with a known reason or are at most
// MaxReplicaKeys whole AES-256 keys each naming a province, which seal
// and open again to the same keys.
func FuzzOpenContentKeys(f *testing.F) {
	fed := newTestFederation(f, testNow)
	replica := mustKey(f)
	plain := mustJSON(f, []replicaKey{{ID: fed.GD.CK.ID, NotBefore: 1, Expires: 2, Key: b64(fed.GD.CK.Key)}})
	f.Add(plain)
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"ckid":"x/1","nbf":1,"exp":2,"key":""}]`))
	f.Add([]byte(`[{"ckid":"440000/1","CKID":"x/1","nbf":1,"exp":2,"key":""}]`))
	f.Fuzz(func(t *testing.T, plain []byte) {
		raw, err := sealTo(plain, replicaKeysCty, &replica.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		cks, err := OpenContentKeys(raw, replica)
		knownReason(t, err)
		if err != nil {
			return
		}
		if len(cks) > MaxReplicaKeys {
			t.Fatalf("accepted %d keys", len(cks))
		}
		for _, ck := range cks {
			if len(ck.Key) != ContentKeyLen || !isProvinceID(contentKeyProvince(ck.ID)) || checkContentKey(ck) != nil {
				t.Fatalf("accepted content key %q of %d bytes", ck.ID, len(ck.Key))
			}
		}
		again, err := SealContentKeys(cks, &replica.PublicKey)
		if err != nil {
			t.Fatalf("accepted keys do not seal again: %v", err)
		}
		back, err := OpenContentKeys(again, replica)
		if err != nil || len(back) != len(cks) {
			t.Fatalf("accepted keys reopen as %d, %v", len(back), err)
		}
		for i := range back {
			if back[i].ID != cks[i].ID || !bytes.Equal(back[i].Key, cks[i].Key) || !back[i].NotBefore.Equal(cks[i].NotBefore) || !back[i].Expires.Equal(cks[i].Expires) {
				t.Fatalf("key %d reopens as %+v, was %+v", i, back[i], cks[i])
			}
		}
	})
}

// FuzzDecodeTrustList: a proposal file the operator CLI reads is refused
// with a known reason, or has one canonical form: written out and read
// again, it writes out the same bytes.
func FuzzDecodeTrustList(f *testing.F) {
	fed := newTestFederation(f, testNow)
	f.Add(mustJSON(f, fed.trustList(f, newOperators(f, "op", 3), 2, 1)))
	f.Add([]byte(`{"fed":"demo","version":1}`))
	f.Add([]byte(`{"fed":"demo","Version":1,"version":2}`))
	f.Add([]byte(`{"members":[{"root":  { "kty" : "EC" } }]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tl, err := DecodeTrustList(b)
		knownReason(t, err)
		if err != nil {
			return
		}
		once := mustJSON(t, tl)
		back, err := DecodeTrustList(once)
		if err != nil {
			t.Fatalf("%q written as %q does not read back: %v", b, once, err)
		}
		if twice := mustJSON(t, back); !bytes.Equal(once, twice) {
			t.Fatalf("%q writes as %q, then as %q", b, once, twice)
		}
	})
}

// FuzzParsePublicJWK: a JWK (a member's root in a trust list, a replica's
// enc key, an operator's .pub.jwk file) is refused with a known reason or
// is a P-256 point on the curve whose kid is its thumbprint, and the key
// written back by PublicJWK parses to the same point and kid.
func FuzzParsePublicJWK(f *testing.F) {
	k := mustKey(f)
	f.Add([]byte(jwkJSON(f, &k.PublicKey)))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"","y":""}`))
	f.Add([]byte(`{"kty":"oct","k":"AAAA"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		pub, kid, err := ParsePublicJWK(raw)
		knownReason(t, err)
		if err != nil {
			if pub != nil || kid != "" {
				t.Fatalf("refusal %v returns a key", err)
			}
			return
		}
		if !pub.Curve.IsOnCurve(pub.X, pub.Y) {
			t.Fatalf("accepted a point off the curve")
		}
		if tp, err := Thumbprint(pub); err != nil || tp != kid {
			t.Fatalf("kid %q, thumbprint %q (%v)", kid, tp, err)
		}
		jwk, err := PublicJWK(pub, "sig")
		if err != nil {
			t.Fatal(err)
		}
		back, kid2, err := ParsePublicJWK(mustJSON(t, jwk))
		if err != nil || kid2 != kid || !back.Equal(pub) {
			t.Fatalf("written back, reads as %q, %v", kid2, err)
		}
	})
}

// FuzzParseReceiptDay: a receipt day is refused as malformed or is the
// start of a day in ReceiptZone that ReceiptDay writes as exactly the input.
func FuzzParseReceiptDay(f *testing.F) {
	f.Add("2026-11-30")
	f.Add("2026-02-30")
	f.Add("2026-1-30")
	f.Add("+2026-11-30")
	f.Fuzz(func(t *testing.T, day string) {
		d, err := ParseReceiptDay(day)
		if err != nil {
			if ReasonOf(err) != ReasonMalformed {
				t.Fatalf("refused %q with %v", day, err)
			}
			return
		}
		if ReceiptDay(d) != day || !d.Equal(d.In(ReceiptZone).Truncate(time.Hour)) || d.In(ReceiptZone).Hour() != 0 {
			t.Fatalf("%q reads as %v, written %q", day, d, ReceiptDay(d))
		}
	})
}

// FuzzOpenLookupRequestPayload: a lookup request Shanghai signed and
// sealed to Guangdong, whatever its payload, is refused with a known
// reason (handed back only when its grounds alone, the legal basis or the
// form of the proof of scan, are wanting), or is
// Shanghai's, addressed to Guangdong, fresh and valid.
// FuzzOpenLookupRequest mutates the sealed bytes; this one reaches what
// is inside.
func FuzzOpenLookupRequestPayload(f *testing.F) {
	fed := newTestFederation(f, testNow)
	f.Add(mustJSON(f, lookupReq(f, testNow)))
	noBasis := lookupReq(f, testNow)
	noBasis.LegalBasis = " "
	f.Add(mustJSON(f, noBasis))
	noProof := lookupReq(f, testNow)
	noProof.Proof = ""
	f.Add(mustJSON(f, noProof))
	badProof := lookupReq(f, testNow)
	badProof.Proof = badProof.Proof[:42] + "="
	f.Add(mustJSON(f, badProof))
	f.Add([]byte(`{"iss":"310000","to":"440000"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		raw, err := sealTo([]byte(signedPayload(t, fed.SH.Active, TypLookup, payload)), sealedCty, &fed.GD.Enc.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		req, err := openAtGD(fed, raw, testNow)
		knownReason(t, err)
		if err != nil {
			if req != nil && ReasonOf(err) != ReasonNoLegalBasis && ReasonOf(err) != ReasonLookupUnproven {
				t.Fatalf("request returned with %v", err)
			}
			return
		}
		if req.Issuer != sh || req.To != gd || req.Validate() != nil || fresh(req.IssuedAt, testNow) != nil {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// FuzzOpenErasure: an erasure Guangdong signed and sealed to Shanghai,
// whatever its payload, is refused with a known reason, or is
// Guangdong's, addressed to Shanghai, fresh and valid (bounded, base64url
// code references), and only its own acknowledgement acknowledges it.
func FuzzOpenErasure(f *testing.F) {
	fed := newTestFederation(f, testNow)
	f.Add(mustJSON(f, Erasure{Issuer: gd, To: sh, IssuedAt: testNow.Unix(), Nonce: mustJTI(f), Codes: []string{"abc_-1"}}), []byte("x"))
	f.Add(mustJSON(f, Erasure{Issuer: gd, To: gd, IssuedAt: testNow.Unix(), Nonce: mustJTI(f), Codes: []string{"a"}}), []byte(""))
	f.Add([]byte(`{"iss":"440000","to":"310000","iat":1,"nonce":"","codes":[]}`), []byte(nil))
	f.Add([]byte(`{"iss":"440000","to":"310000","iat":1,"nonce":"x","codes":["a.b"],"ISS":"310000"}`), []byte("ack"))
	f.Fuzz(func(t *testing.T, payload, reply []byte) {
		raw, err := sealTyped([]byte(signedPayload(t, fed.GD.Active, TypErasure, payload)), sealedCty, sealedErasureTyp, &fed.SH.Enc.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if !IsSealedErasure(raw) {
			t.Fatal("a sealed erasure's envelope does not say so")
		}
		e, err := OpenErasure(raw, gd, fed.GD.Keys, sh, fed.SH.Enc, testNow)
		knownReason(t, err)
		if err != nil {
			if e != nil {
				t.Fatalf("refusal %v carries %+v", err, e)
			}
			return
		}
		if e.Issuer != gd || e.To != sh || e.Validate() != nil || fresh(e.IssuedAt, testNow) != nil {
			t.Fatalf("accepted erasure %+v (%v)", e, e.Validate())
		}
		if CheckErasureAck(*e, ErasureAck(*e)) != nil {
			t.Fatal("an erasure's own acknowledgement is refused")
		}
		if !bytes.Equal(reply, ErasureAck(*e)) && CheckErasureAck(*e, reply) == nil {
			t.Fatalf("reply %q acknowledges %+v", reply, e)
		}
	})
}

// FuzzIsSealedErasure: the routing hint reads any string without panic,
// and what it calls an erasure is still opened and checked in full.
func FuzzIsSealedErasure(f *testing.F) {
	fed := newTestFederation(f, testNow)
	sealed, err := SealErasure(fed.GD.Active, Erasure{Issuer: gd, To: sh, IssuedAt: testNow.Unix(), Nonce: mustJTI(f), Codes: []string{"a"}}, &fed.SH.Enc.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add("eyJ0eXAiOiJoY2ZlZC1lcmFzdXJlK2p3ZSJ9.")
	f.Add(".")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		if !IsSealedErasure(raw) {
			return
		}
		e, err := OpenErasure(raw, gd, fed.GD.Keys, sh, fed.SH.Enc, testNow)
		knownReason(t, err)
		if err == nil && (e.Issuer != gd || e.To != sh || e.Validate() != nil) {
			t.Fatalf("accepted erasure %+v", e)
		}
	})
}
