package main

import (
	"context"
	"net/http"

	"github.com/hcfed/hcfed/node"
)

// whoami is who the node says a token is (GET /v1/whoami).
type whoami struct {
	Role        string `json:"role"`
	Account     string `json:"account"`
	AccountRole string `json:"account_role"`
	SubjectID   string `json:"subject_id"`
	ScannerID   string `json:"scanner_id"`
}

// principal is w as the node's checks see it.
func (w whoami) principal() node.Principal {
	return node.Principal{Role: node.Role(w.Role), Account: w.Account, Admin: w.AccountRole == node.AccountAdmin,
		SubjectID: w.SubjectID, ScannerID: w.ScannerID}
}

// caller asks the node who the client's token is. A plan asks it first
// (startPlan), so that a node out of reach, a token it refuses, or a
// caller who may not do what the plan says is told so before anyone types
// --yes, rather than shown a plan the node would refuse, and with --yes
// before a plan is printed.
func (c *client) caller(ctx context.Context) (whoami, error) {
	var w whoami
	err := c.do(ctx, http.MethodGet, "/v1/whoami", nil, &w)
	return w, err
}

// callerCheck asks the node whether the client's token may carry out a
// plan: nil, or the refusal the node would give it (see startPlan).
type callerCheck func(context.Context) error

// mayAdmin is the check of an admin's action (as "account.disable"):
// admin_required for an operator's token, with who can.
func (c *client) mayAdmin(action string) callerCheck {
	return func(ctx context.Context) error {
		w, err := c.caller(ctx)
		if err != nil {
			return err
		}
		return node.RequireAdmin(w.principal(), action)
	}
}

// mayOperate is mayAdmin for an operator's action: forbidden for a token
// that is no operator's or admin's.
func (c *client) mayOperate() callerCheck {
	return func(ctx context.Context) error {
		w, err := c.caller(ctx)
		if err != nil {
			return err
		}
		return node.RequireOperator(w.principal())
	}
}
