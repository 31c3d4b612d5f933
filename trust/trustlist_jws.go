package trust

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
)

// The trust list document: the JWS JSON general serialization (RFC 7515
// section 7.2.1), one signature per operator, written and read with the
// same codec as compact statements (jws.go). The document has one
// encoding, the one encoding/json writes for trustListDoc, so a document
// that passes re-encodes to exactly its bytes, and no lenient reading
// (case-insensitive or duplicate member names, whitespace) can make two
// readers see different signatures.

// trustListDoc is a trust list document.
type trustListDoc struct {
	Payload    string         `json:"payload"`
	Signatures []trustListSig `json:"signatures"`
}

// trustListSig is one signature as written in the document. Header, the
// unprotected header, is read only to be refused.
type trustListSig struct {
	Protected string          `json:"protected"`
	Header    json.RawMessage `json:"header,omitempty"`
	Signature string          `json:"signature"`
}

// trustListSignature is one signature, its header checked, not yet
// verified.
type trustListSignature struct {
	kid   string
	input string // protected "." payload, as signed
	sig   []byte
}

// decodeTrustListDoc checks a document's form — canonical, general
// serialization, 1 to MaxTrustListSignatures signatures, no unprotected
// header, every protected header canonical ES256 with typ
// hcfed-trustlist+jwt — and returns the payload and the signatures.
func decodeTrustListDoc(raw []byte) ([]byte, []trustListSignature, error) {
	var doc trustListDoc
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, fail(ReasonMalformed, "trust list: "+err.Error())
	}
	if dec.More() {
		return nil, nil, fail(ReasonMalformed, "trust list: trailing data")
	}
	if len(doc.Signatures) == 0 || len(doc.Signatures) > MaxTrustListSignatures {
		return nil, nil, fail(ReasonMalformed, fmt.Sprintf("trust list: %d signatures", len(doc.Signatures)))
	}
	sigs := make([]trustListSignature, 0, len(doc.Signatures))
	for _, s := range doc.Signatures {
		if len(s.Header) > 0 {
			return nil, nil, fail(ReasonBadHeader, "trust list: unprotected header")
		}
		h, err := decodeHeader(s.Protected, TypTrustList)
		if err != nil {
			return nil, nil, err
		}
		sig, err := decodeSignature(s.Signature)
		if err != nil {
			return nil, nil, err
		}
		sigs = append(sigs, trustListSignature{kid: h.Kid, input: s.Protected + "." + doc.Payload, sig: sig})
	}
	payload, err := b64url.DecodeString(doc.Payload)
	if err != nil {
		return nil, nil, fail(ReasonMalformed, "trust list: payload encoding")
	}
	// Checked last, so that a document refused for its headers says so.
	// A key given twice or mis-cased is not canonical either; the key
	// check names it.
	if err := CheckJSONKeys(raw, &doc); err != nil {
		return nil, nil, fail(ReasonMalformed, "trust list: "+err.Error())
	}
	if !isCanonical(doc, raw) {
		return nil, nil, fail(ReasonMalformed, "trust list: document is not in canonical form")
	}
	return payload, sigs, nil
}

// SignTrustList adds one operator's signature to a trust list. doc is the
// document signed so far, or nil to start from payload; key signs payload
// as found in doc when doc is given. Payload bytes are signed as they are,
// so every operator signs exactly the same bytes. The result is always
// the canonical general serialization, even with one signature.
func SignTrustList(doc, payload []byte, key *ecdsa.PrivateKey) ([]byte, error) {
	var out trustListDoc
	if doc != nil {
		held, err := readTrustListDoc(doc)
		if err != nil {
			return nil, err
		}
		out = held
	} else {
		out.Payload = b64url.EncodeToString(payload)
	}
	kid, err := Thumbprint(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	h64, err := encodeHeader(kid, TypTrustList)
	if err != nil {
		return nil, err
	}
	sig, err := signES256(key, h64+"."+out.Payload)
	if err != nil {
		return nil, err
	}
	out.Signatures = append(out.Signatures, trustListSig{Protected: h64, Signature: b64url.EncodeToString(sig)})
	return json.Marshal(out)
}

// readTrustListDoc reads a document signed so far, in the general form or
// the flattened form earlier versions wrote for a single signature. Its
// keys are checked as a signed statement's are (CheckJSONKeys): a key
// given twice, mis-cased or unknown is refused, not collapsed or ignored,
// so an operator signs the payload every reader of the file sees. Its
// payload must be strict base64url: what is signed is the payload as
// written in the document.
func readTrustListDoc(doc []byte) (trustListDoc, error) {
	var d struct {
		trustListDoc
		trustListSig
	}
	if err := DecodeJSON(doc, &d); err != nil {
		return trustListDoc{}, fmt.Errorf("trust list document: %w", err)
	}
	out := d.trustListDoc
	if d.Protected != "" || d.Signature != "" {
		out.Signatures = append([]trustListSig{d.trustListSig}, out.Signatures...)
	}
	if out.Payload == "" {
		return trustListDoc{}, fmt.Errorf("trust list document: no payload")
	}
	if _, err := b64url.DecodeString(out.Payload); err != nil {
		return trustListDoc{}, fmt.Errorf("trust list document: payload: %w", err)
	}
	return out, nil
}
