package api_test

import (
	"io"
	"strings"
	"testing"
	"time"
)

type newAccountToken struct {
	AccountID string    `json:"account_id"`
	Account   string    `json:"account"`
	Role      string    `json:"role"`
	TokenID   string    `json:"token_id"`
	Token     string    `json:"token"`
	Expires   time.Time `json:"expires"`
}

// The account routes end to end: the init token is the first admin's; an
// admin creates an operator, mints and revokes tokens and disables the
// account; lists show token ids, never secrets; the operator may do none
// of the admin's work, and a revoked token fails on its next request.
func TestAccountRoutesManageNamedOperatorTokens(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	var who map[string]string
	if r := n.call("GET", "/v1/whoami", n.operator, nil, &who); r.StatusCode != 200 ||
		who["account"] != "admin" || who["account_role"] != "admin" || who["role"] != "operator" {
		t.Fatalf("whoami of the init token: %d %v", r.StatusCode, who)
	}

	var op newAccountToken
	if r := n.call("POST", "/v1/accounts", n.operator, map[string]string{"name": "li.na", "role": "operator"}, &op); r.StatusCode != 201 ||
		op.Account != "li.na" || op.Role != "operator" || !strings.HasPrefix(op.Token, "hct_") || op.TokenID == "" {
		t.Fatalf("create account: %d %+v", r.StatusCode, op)
	}
	if d := op.Expires.Sub(n.clock.Now()); d < 719*time.Hour || d > 720*time.Hour {
		t.Fatalf("first token lives %v, want tokens.operator_lifetime (720h)", d)
	}
	var e apiError
	if r := n.call("POST", "/v1/accounts", n.operator, map[string]string{"name": "LI.NA", "role": "operator"}, &e); r.StatusCode != 409 || e.Error.Code != "conflict" {
		t.Fatalf("duplicate name: %d %+v", r.StatusCode, e)
	}
	if r := n.call("POST", "/v1/accounts", op.Token, map[string]string{"name": "eve", "role": "admin"}, &e); r.StatusCode != 403 || e.Error.Code != "admin_required" {
		t.Fatalf("an operator creating an account: %d %+v", r.StatusCode, e)
	}
	if r := n.call("POST", "/v1/accounts/li.na/tokens", n.operator, map[string]string{"lifetime": "forever"}, &e); r.StatusCode != 400 || e.Error.Code != "invalid" {
		t.Fatalf("bad lifetime: %d %+v", r.StatusCode, e)
	}

	var spare newAccountToken
	if r := n.call("POST", "/v1/accounts/li.na/tokens", n.operator, map[string]string{"label": "laptop", "lifetime": "24h"}, &spare); r.StatusCode != 201 ||
		spare.AccountID != op.AccountID || spare.Expires.Sub(n.clock.Now()) > 24*time.Hour {
		t.Fatalf("mint token: %d %+v", r.StatusCode, spare)
	}
	var list struct {
		Accounts []struct {
			Name   string `json:"name"`
			Tokens []struct {
				ID    string `json:"id"`
				Label string `json:"label"`
			} `json:"tokens"`
		} `json:"accounts"`
	}
	r := n.call("GET", "/v1/accounts", op.Token, nil, &list)
	if r.StatusCode != 200 || len(list.Accounts) != 1 || list.Accounts[0].Name != "li.na" || len(list.Accounts[0].Tokens) != 2 {
		t.Fatalf("an operator's list: %d %+v", r.StatusCode, list)
	}
	labels := map[string]string{}
	for _, tok := range list.Accounts[0].Tokens {
		labels[tok.ID] = tok.Label
	}
	if labels[spare.TokenID] != "laptop" || labels[op.TokenID] != "" {
		t.Fatalf("tokens listed %v, want %s (laptop) and %s", labels, spare.TokenID, op.TokenID)
	}
	raw := n.call("GET", "/v1/accounts", n.operator, nil, nil)
	if body, _ := io.ReadAll(raw.Body); raw.StatusCode != 200 || strings.Contains(string(body), "hct_") {
		t.Fatalf("the account list shows a token secret: %s", body)
	}

	if r := n.call("DELETE", "/v1/accounts/li.na/tokens/"+spare.TokenID, op.Token, nil, nil); r.StatusCode != 204 {
		t.Fatalf("an operator revoking their own token: %d", r.StatusCode)
	}
	if r := n.call("GET", "/v1/whoami", spare.Token, nil, &e); r.StatusCode != 401 {
		t.Fatalf("a revoked token: %d", r.StatusCode)
	}
	if r := n.call("DELETE", "/v1/accounts/admin", op.Token, nil, &e); r.StatusCode != 403 {
		t.Fatalf("an operator disabling the admin: %d", r.StatusCode)
	}
	if r := n.call("DELETE", "/v1/accounts/"+op.AccountID, n.operator, nil, nil); r.StatusCode != 204 {
		t.Fatalf("disable: %d", r.StatusCode)
	}
	if r := n.call("GET", "/v1/whoami", op.Token, nil, &e); r.StatusCode != 401 {
		t.Fatalf("a disabled account's token: %d", r.StatusCode)
	}
	if r := n.call("DELETE", "/v1/accounts/admin", n.operator, nil, &e); r.StatusCode != 409 || !strings.Contains(e.Error.Message, "last enabled admin") {
		t.Fatalf("disabling the last admin: %d %+v", r.StatusCode, e)
	}
}
