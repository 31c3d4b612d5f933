package node

// Operation names an operation whose input comes in a request body, for
// Permit: the api asks Permit before it reads the body, so that a caller
// who may not call the operation is refused (EForbidden) whatever the
// body holds, and learns nothing of what the operation expects.
type Operation int

// Operations that take a request body. Each checks its caller through
// Permit first, so that the node and the api apply one rule.
const (
	OpEnrol                Operation = iota + 1 // Enrol: operators
	OpSetStatus                                 // SetStatus: operators and feeds
	OpIssueCode                                 // IssueCode: operators and the resident whose record it is
	OpReplaceResidentToken                      // ReplaceResidentToken: operators
	OpAddScanner                                // AddScanner: operators
	OpAddReplica                                // Replicas.Add: admins
	OpConfirmReplica                            // Replicas.Confirm: admins
	OpFileAppeal                                // FileAppeal: operators and residents (whose record: see FileAppeal)
	OpResolveAppeal                             // ResolveAppeal: operators
	OpLookup                                    // Lookup: operators
	OpLookupAudit                               // LookupAudit: operators
	OpVerify                                    // Verify: scanners
	OpCreateAccount                             // CreateAccount: admins
	OpCreateAccountToken                        // CreateAccountToken: admins
	OpLinkQR                                    // node/api's QR image of a wallet or scanner link: operators
)

// permits is the caller check of each operation; target is the subject
// id of the record the operation reaches, where it names one.
var permits = map[Operation]func(p Principal, target string) error{
	OpEnrol:                operatorsOnly,
	OpSetStatus:            func(p Principal, _ string) error { return require(p, RoleOperator, RoleFeed) },
	OpIssueCode:            requireSubject,
	OpReplaceResidentToken: operatorsOnly,
	OpAddScanner:           operatorsOnly,
	OpAddReplica:           adminOnly(OpAddReplica),
	OpConfirmReplica:       adminOnly(OpConfirmReplica),
	OpFileAppeal:           func(p Principal, _ string) error { return require(p, RoleOperator, RoleResident) },
	OpResolveAppeal:        operatorsOnly,
	OpLookup:               operatorsOnly,
	OpLookupAudit:          operatorsOnly,
	OpVerify:               func(p Principal, _ string) error { return require(p, RoleScanner) },
	OpCreateAccount:        adminOnly(OpCreateAccount),
	OpCreateAccountToken:   adminOnly(OpCreateAccountToken),
	OpLinkQR: func(p Principal, _ string) error {
		if p.Role == RoleOperator {
			return nil
		}
		return forbidden(p, "only an operator renders link QR codes")
	},
}

// adminOnly allows admins only, to op (one of adminOps), whatever the
// target.
func adminOnly(op Operation) func(p Principal, _ string) error {
	return func(p Principal, _ string) error { return requireAdmin(p, adminOps[op]) }
}

// operatorsOnly allows operators, whatever the target.
func operatorsOnly(p Principal, _ string) error { return require(p, RoleOperator) }

// Permit returns the refusal op gives p before it looks at its input:
// EForbidden for a role that may never call it (EAdminRequired for an
// operator at an admin's operation), or for a resident aiming
// at another's record (target: the subject id the request's path names,
// for the operations on one record; ignored by the others). It reads
// nothing, so the api calls it before reading a body. A nil is no
// permission: the operation checks again, with its input. An unknown op
// is refused.
func Permit(p Principal, op Operation, target string) error {
	check, ok := permits[op]
	if !ok {
		return Errorf(EForbidden, "this token may not do that")
	}
	return check(p, target)
}
