package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
)

// After 'keys compromise', a resident's codes of the compromised key are
// refused everywhere (key_compromised) and their QR images too, so the
// wallet asks for a new code; but those codes still counted toward
// codes.max_live, and a resident holding max_live of them got
// limit_reached until they expired, a day later. They no longer count.
func TestCodesOfACompromisedKeyDoNotCountTowardMaxLive(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous, func(c *config.Config) { c.Codes.MaxLive = 2 })
	id, resident := n.enrol(residentName, residentID)
	old := n.issue(id, resident)
	n.issue(id, resident)
	if st, code := n.status("POST", "/v1/subjects/"+id+"/codes", resident, nil); st != http.StatusConflict || code != "limit_reached" {
		t.Fatalf("a code past max_live: %d %s, want 409 limit_reached: this test checks nothing", st, code)
	}
	if resp := n.call("POST", "/v1/keys/"+testkit.CodeKID(t, old.Code)+"/compromise", n.operator, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("compromise: %d", resp.StatusCode)
	}
	var fresh issued
	resp := n.call("POST", "/v1/subjects/"+id+"/codes", resident, nil, &fresh)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("a new code after the compromise of the key of all the resident's live codes: %d, want 201", resp.StatusCode)
	}
	if v := n.verify(fresh.Code); !v.Valid {
		t.Errorf("the new code: %+v", v)
	}
	n.issue(id, resident)
	if st, code := n.status("POST", "/v1/subjects/"+id+"/codes", resident, nil); st != http.StatusConflict || code != "limit_reached" {
		t.Errorf("past max_live codes of the new key: %d %s, want 409 limit_reached", st, code)
	}
}

// The wallet polls the resident's record and fetched a new code only when
// the status moved; a code withdrawn another way — its signing key marked
// compromised — stayed on the resident's screen, framed green, while
// every checkpoint said not valid. The record now lists, to the resident
// only, the phone codes the node honours: the wallet compares the code it
// shows with them. Paper codes are not listed, and withdrawing them
// leaves the phone codes listed. The codes of a compromised key are
// listed apart (key_compromised_codes), for the wallet to say so.
func TestResidentRecordListsTheLivePhoneCodesOnly(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous)
	id, resident := n.enrol(residentName, residentID)
	liveCodes := func(token string) (codes []string, present bool) {
		t.Helper()
		var rec map[string]json.RawMessage
		if resp := n.call("GET", "/v1/subjects/"+id, token, nil, &rec); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET record: %d", resp.StatusCode)
		}
		raw, present := rec["live_codes"]
		if present {
			if err := json.Unmarshal(raw, &codes); err != nil || codes == nil {
				t.Fatalf("live_codes %s: %v, want a list", raw, err)
			}
		}
		return codes, present
	}

	compromised := func(token string) []string {
		t.Helper()
		var rec struct {
			Codes []string `json:"key_compromised_codes"`
		}
		if resp := n.call("GET", "/v1/subjects/"+id, token, nil, &rec); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET record: %d", resp.StatusCode)
		}
		return rec.Codes
	}

	phone := n.issue(id, resident)
	if got := compromised(resident); got != nil {
		t.Errorf("before any compromise key_compromised_codes is %v", got)
	}
	var paper issued
	if resp := n.call("POST", "/v1/subjects/"+id+"/codes", n.operator, map[string]bool{"paper": true}, &paper); resp.StatusCode != http.StatusCreated {
		t.Fatalf("paper code: %d", resp.StatusCode)
	}
	if got, _ := liveCodes(resident); !slices.Equal(got, []string{phone.JTI}) {
		t.Fatalf("the resident's live codes %v, want their phone code %s alone", got, phone.JTI)
	}
	if got, present := liveCodes(n.operator); present {
		t.Errorf("an operator reading the record is shown live_codes %v; the wallet alone needs them", got)
	}
	if resp := n.call("DELETE", "/v1/subjects/"+id+"/paper-codes", n.operator, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("withdraw paper codes: %d", resp.StatusCode)
	}
	if got, _ := liveCodes(resident); !slices.Equal(got, []string{phone.JTI}) {
		t.Errorf("after the paper codes were withdrawn the live codes are %v, want the phone code %s still", got, phone.JTI)
	}

	if resp := n.call("POST", "/v1/keys/"+testkit.CodeKID(t, phone.Code)+"/compromise", n.operator, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("compromise: %d", resp.StatusCode)
	}
	if v := n.verify(phone.Code); v.Valid || v.Reason != "key_compromised" {
		t.Fatalf("the phone code after its key was compromised: %+v: this test checks nothing", v)
	}
	if got, present := liveCodes(resident); !present || len(got) != 0 {
		t.Errorf("after the key of the phone code was compromised the live codes are %v (present %v), want an empty list", got, present)
	}
	// The wallet tells a key withdrawn from a code revoked: the record
	// names the codes of compromised keys, to the resident alone.
	if got := compromised(resident); !slices.Equal(got, []string{phone.JTI}) {
		t.Errorf("after the key of the phone code was compromised key_compromised_codes is %v, want %s", got, phone.JTI)
	}
	if got := compromised(n.operator); got != nil {
		t.Errorf("an operator reading the record is shown key_compromised_codes %v", got)
	}
	fresh := n.issue(id, resident)
	if got, _ := liveCodes(resident); !slices.Equal(got, []string{fresh.JTI}) {
		t.Errorf("after a new code the live codes are %v, want %s", got, fresh.JTI)
	}
}

// A signing key is compromised when the node's key store was read: the
// content keys lie beside it, sealed under the same KEK, this epoch's and
// the next one's (published ahead). 'keys compromise' replaced the
// signing key but went on encrypting new codes under the same content
// keys, so whoever took the key read the status and masked name of every
// code issued for up to two more epochs (seed rule 5). A compromise now
// starts new content keys too, as a suspension does.
func TestCodesIssuedAfterAKeyCompromiseUseANewContentKey(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous)
	id, resident := n.enrol(residentName, residentID)
	before := n.issue(id, resident)
	if resp := n.call("POST", "/v1/keys/"+testkit.CodeKID(t, before.Code)+"/compromise", n.operator, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("compromise: %d", resp.StatusCode)
	}
	after := n.issue(id, resident)
	if v := n.verify(after.Code); !v.Valid || v.Status != "green" {
		t.Fatalf("a code issued after the compromise: %+v, want a valid green code", v)
	}
	if old, now := testkit.CodeContentKey(t, before.Code), testkit.CodeContentKey(t, after.Code); old == now {
		t.Errorf("a code issued after the compromise is encrypted under %s, the content key the node held when its "+
			"key store was read; want a new one", now)
	}
}

// A second compromise of a key already compromised started new content
// keys again, republished the keyset and audited it again, while 'hcnode
// keys compromise' planned "already compromised: nothing to do": each
// retry spent one of the 64 live content keys a grant carries, which a
// suspension needs. It is refused (conflict), and nothing changes.
func TestASecondCompromiseOfAKeyIsRefusedAndStartsNoContentKey(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous)
	id, resident := n.enrol(residentName, residentID)
	kid := testkit.CodeKID(t, n.issue(id, resident).Code)
	if resp := n.call("POST", "/v1/keys/"+kid+"/compromise", n.operator, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("compromise: %d", resp.StatusCode)
	}
	first := testkit.CodeContentKey(t, n.issue(id, resident).Code)
	if st, code := n.status("POST", "/v1/keys/"+kid+"/compromise", n.operator, nil); st != http.StatusConflict || code != "conflict" {
		t.Errorf("a second compromise of %s: %d %s, want 409 conflict", kid, st, code)
	}
	if now := testkit.CodeContentKey(t, n.issue(id, resident).Code); now != first {
		t.Errorf("after a second compromise of one key, codes are encrypted under %s, want %s still", now, first)
	}
}
