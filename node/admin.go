package node

import (
	"context"
	"time"

	"github.com/hcfed/hcfed/node/store"
)

// adminActions are the operations only an admin account may do, by the
// audit action each writes, with how a refusal names it. Each reaches
// the whole province at once: a signing key marked compromised withdraws
// every code it signed, at every province; a rotation or a next root key
// changes what the federation trusts; a verifier replica receives the
// province's content keys, and removing one takes its scanners' answers
// away; accounts and tokens decide who is an operator at all. Operators
// keep the daily work of one resident or one device at a time (enrolment,
// status, codes, paper codes, appeals, lookups, scanners) and every read.
//
// The README's API table and "People and tokens" list the same; node/api's
// TestEveryAdminRouteRefusesAnOperator walks the routes against it.
var adminActions = map[string]string{
	"key.rotate":       "rotate the province's signing keys",
	"key.compromise":   "mark a signing key compromised",
	"key.root_next":    "make the province's next root key",
	actionContentRekey: "start new content keys",
	"replica.add":      "register a verifier replica",
	"replica.confirm":  "confirm a verifier replica's key",
	"replica.remove":   "remove a verifier replica",
	"account.create":   "create accounts",
	"account.token":    "mint tokens",
	"account.revoke":   "revoke another account's tokens",
	"account.disable":  "disable accounts",
}

// actionAdminRefused is the audit action of an operator refused an
// admin's operation; its target is the audit action it asked for.
const actionAdminRefused = "admin.refused"

// requireAdmin allows only a token of an admin account to do action (a
// key of adminActions). Another operator is EAdminRequired, told what
// needs an admin; a scanner or a resident is EForbidden, as for every
// operator's route.
func requireAdmin(p Principal, action string) error {
	switch {
	case p.Role == RoleOperator && p.Admin:
		return nil
	case p.Role != RoleOperator:
		return forbidden(p, "this token may not do that")
	}
	what, ok := adminActions[action]
	if !ok {
		what = "do that"
	}
	return Errorf(EAdminRequired, "only an admin account may %s: this token is an operator's (role operator); "+
		"ask one of the province's admins", what)
}

// RequireAdmin is the refusal p gets from the admin's action (a key of
// adminActions, as "account.disable"), before the node looks at its
// target: nil for an admin's token, EAdminRequired for another
// operator's, EForbidden for any other. It records nothing (the node's
// own check records an operator's refusal, permitAdmin): hcnode asks it
// so that a plan shown without --yes does not promise what the node
// will refuse.
func RequireAdmin(p Principal, action string) error { return requireAdmin(p, action) }

// RequireOperator is the refusal p gets from an operator's action (every
// one that is not an admin's): nil for an operator's or admin's token,
// EForbidden for any other, a feed's told what it may do. It records
// nothing; hcnode asks it as it asks RequireAdmin.
func RequireOperator(p Principal) error { return require(p, RoleOperator) }

// permitAdmin is requireAdmin, and records an operator's refusal in the
// audit log (admin.refused, naming the account and the action asked
// for): a counter clerk's token trying the province's keys is what a
// stolen one does first. A refusal it cannot record is an internal
// error, so that no such attempt goes unrecorded.
func permitAdmin(ctx context.Context, db *store.DB, now time.Time, p Principal, action string) error {
	err := requireAdmin(p, action)
	if ErrorCodeOf(err) != EAdminRequired {
		return err
	}
	if aerr := db.AppendAudit(ctx, newAuditEntry(now, p.Actor(), actionAdminRefused, action, nil)); aerr != nil {
		return internal("audit admin refusal", aerr)
	}
	return err
}

// adminOps are the operations of Permit that only an admin may call, by
// the audit action each writes.
var adminOps = map[Operation]string{
	OpAddReplica:         "replica.add",
	OpConfirmReplica:     "replica.confirm",
	OpCreateAccount:      "account.create",
	OpCreateAccountToken: "account.token",
}

// Permit is the package's Permit, and records the refusal of an operator
// who is no admin in the audit log, as the operation itself would
// (permitAdmin). node/api calls it before it reads a request's body.
func (n *Node) Permit(ctx context.Context, p Principal, op Operation, target string) error {
	if action, ok := adminOps[op]; ok {
		return permitAdmin(ctx, n.db, n.now(), p, action)
	}
	return Permit(p, op, target)
}
