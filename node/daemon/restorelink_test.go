package daemon_test

import (
	"net/http"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
)

// TestRestoreRevokesAWalletLinkReplacedAfterTheBackup: a resident lost
// their phone after a backup, and the operator replaced their wallet
// link. Restoring the backup brought the lost phone's link back: whoever
// found the phone could read the record and be issued codes again. The
// replacement's revocation, taken back from the federation, now says
// (to the home node only) whose link it replaced, and reconciliation
// revokes that link; also for a resident whose phone held no live code,
// whose replacement revoked no code. A link not replaced still works,
// and a resident set red after the backup keeps their link: a status
// change's revocation never revokes a link.
func TestRestoreRevokesAWalletLinkReplacedAfterTheBackup(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces[:2], nil)
	const home, peer = 0, 1
	op := f.c.Tokens[home]
	type resident struct{ id, card, token, code string }
	enrol := func(name string, n int, withCode bool) resident {
		r := resident{card: testkit.IDNumber("440106199003", n)}
		r.id, r.token = f.enrolResident(home, name, r.card)
		if withCode {
			var c struct{ Code string }
			f.mustCall(home, "POST", "/v1/subjects/"+r.id+"/codes", r.token, nil, &c, 201)
			r.code = c.Code
		}
		return r
	}
	replaced := enrol("换机", 1, true)
	noCode := enrol("无码", 2, false)
	kept := enrol("未变", 3, true)
	setRed := enrol("改红", 4, true)
	backup := f.backup(home)

	for _, r := range []resident{noCode, replaced} {
		f.mustCall(home, "POST", "/v1/subjects/"+r.id+"/token", op, map[string]string{"id_number": r.card}, nil, 201)
	}
	f.setStatus(home, setRed.id, "red")
	f.eventually(peer, replaced.code, "revoked")
	f.eventually(peer, setRed.code, "revoked")
	f.waitMetricValue(home, "hcfed_revocation_outbox_pending", "0")

	f.restore(home, backup)

	for what, r := range map[string]resident{"replaced with a live code": replaced, "replaced without a code": noCode} {
		if st := f.call(home, "GET", "/v1/subjects/"+r.id, r.token, nil, nil); st != http.StatusUnauthorized {
			t.Errorf("the lost phone's link (%s) after the restore reads the record: HTTP %d, want 401", what, st)
		}
		if st := f.call(home, "POST", "/v1/subjects/"+r.id+"/codes", r.token, nil, nil); st != http.StatusUnauthorized {
			t.Errorf("the lost phone's link (%s) after the restore is issued a code: HTTP %d, want 401", what, st)
		}
	}
	var fresh struct{ Code string }
	f.mustCall(home, "POST", "/v1/subjects/"+kept.id+"/codes", kept.token, nil, &fresh, 201)
	f.eventually(peer, fresh.Code, "ok")
	if st := f.call(home, "GET", "/v1/subjects/"+setRed.id, setRed.token, nil, nil); st != http.StatusOK {
		t.Errorf("the link of a resident set red after the backup: HTTP %d, want 200 (a status change revokes no link)", st)
	}
	if st := f.call(home, "POST", "/v1/subjects/"+setRed.id+"/codes", setRed.token, nil, nil); st != http.StatusConflict {
		t.Errorf("a code for a resident set red after the backup: HTTP %d, want 409 (held until set again)", st)
	}
}
