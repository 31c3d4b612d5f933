package replica

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// loadToken is the replica token a start uses: replica.token (or
// $HCNODE_REPLICA_TOKEN), else the content of replica.token_file.
func loadToken(r config.Replica) (string, error) {
	if r.Token != "" {
		return r.Token, nil
	}
	b, err := os.ReadFile(r.TokenFile)
	if err != nil {
		return "", fmt.Errorf("replica.token_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// tokenSource names where the token came from, for an operator to fix.
func tokenSource(r config.Replica) string {
	if r.Token != "" {
		return "replica.token (or $HCNODE_REPLICA_TOKEN)"
	}
	return "replica.token_file (" + r.TokenFile + ")"
}

// CheckHome is a preflight's ('hcnode check') question to the home node:
// does it answer at replica.home, with the replica's CA and timeout, and
// accept the replica's token? It sends one request, an empty POST
// /v1/replica/records: the only replica route that registers nothing and
// sends no scanner list (sync writes last_seen and answers megabytes;
// register records a key). A home of this build writes nothing for it; an
// older one runs a write that only forgets record ids past their age.
// The error says what to fix.
func CheckHome(ctx context.Context, r config.Replica) error {
	tok, err := loadToken(r)
	if err != nil {
		return fmt.Errorf("%w: put there the token 'hcnode replica add NAME' printed at home", err)
	}
	h, err := newHomeClient(r, tok)
	if err != nil {
		return err
	}
	err = h.do(ctx, http.MethodPost, RecordsPath, RecordsRequest{Records: []node.ReplicaRecord{}}, &RecordsAnswer{})
	var he *HomeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &he) && he.Status == http.StatusUnauthorized:
		return fmt.Errorf("the home node at %s refuses this replica's token (%s): it is not one 'hcnode replica add' printed there, "+
			"or the replica was removed; at home, run 'hcnode replica add NAME' (admin) and put the token it prints in %s",
			h.base, he.Code, tokenSource(r))
	case errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusMethodNotAllowed):
		return fmt.Errorf("%s answered %d to %s: it is not a home node's URL (a replica's, a path, another service?); "+
			"set replica.home to the home node's URL on the internal network", h.base, he.Status, RecordsPath)
	case errors.As(err, &he):
		return fmt.Errorf("the home node at %s: %w", h.base, err)
	default:
		return fmt.Errorf("the home node at %s did not answer (%w): check replica.home, that the home node runs, "+
			"and for https replica.ca_file; a replica that cannot reach home refuses every scanner (replica_stale) once replica.max_stale passes",
			h.base, err)
	}
}
