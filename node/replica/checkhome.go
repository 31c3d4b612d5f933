package replica

import (
	"cmp"
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
// does it answer at replica.home, with the replica's CA and timeout,
// accept the replica's token, is it of the replica's province, and does
// it trust the replica's keys, of fingerprint fp ("" while the replica
// has none: its first start makes them)? It sends one request, GET
// /v1/replica/status, which writes nothing. It returns a warning (home
// cannot trust keys the replica has not made yet) or an error that says
// what to fix.
func CheckHome(ctx context.Context, r config.Replica, province, fp string) (warn string, err error) {
	tok, err := loadToken(r)
	if err != nil {
		return "", fmt.Errorf("%w: put there the token 'hcnode replica add NAME' printed at home", err)
	}
	h, err := newHomeClient(r, tok)
	if err != nil {
		return "", err
	}
	var st node.ReplicaStatus
	err = h.do(ctx, http.MethodGet, StatusPath, nil, &st)
	var he *HomeError
	switch {
	case err == nil:
	case errors.As(err, &he) && he.Status == http.StatusUnauthorized:
		return "", fmt.Errorf("the home node at %s refuses this replica's token (%s): it is not one 'hcnode replica add' printed there, "+
			"or the replica was removed; at home, run 'hcnode replica add NAME' (admin) and put the token it prints in %s",
			h.base, he.Code, tokenSource(r))
	case errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusMethodNotAllowed):
		return "", fmt.Errorf("%s answered %d to %s: it is not a home node's URL (a replica's, a path, another service?), "+
			"or a home node of an older build (upgrade home first); set replica.home to the home node's URL on the internal network",
			h.base, he.Status, StatusPath)
	case errors.As(err, &he):
		return "", fmt.Errorf("the home node at %s: %w", h.base, err)
	default:
		return "", fmt.Errorf("the home node at %s did not answer (%w): check replica.home, that the home node runs, "+
			"and for https replica.ca_file; a replica that cannot reach home refuses every scanner (replica_stale) once replica.max_stale passes",
			h.base, err)
	}
	if st.Province != province {
		return "", &OtherProvinceError{Home: r.Home, HomeProvince: st.Province, Province: province}
	}
	name := cmp.Or(st.Name, "NAME")
	if !st.Trusted && st.Grandfathered {
		return grandfatheredWarning(st, name, fp), nil
	}
	switch {
	case fp == "":
		return fmt.Sprintf("home accepts this replica's token; the replica makes its keys at its first start: then run 'hcnode check' "+
			"here again and, at home, 'hcnode replica confirm %s FINGERPRINT' (admin) with the fingerprint it prints; "+
			"until then the replica refuses every scanner (replica_unconfirmed)", name), nil
	case st.Trusted && st.Confirmed == fp:
		return "", nil
	case st.Trusted:
		return "", fmt.Errorf("replica_unconfirmed: home trusts other keys for replica %s (fingerprint %s), not this replica's (%s): "+
			"if this replica made new keys (its data directory was lost), run at home 'hcnode replica confirm %s %s' (admin)",
			name, st.Confirmed, fp, name, fp)
	}
	other := ""
	if st.Fingerprint != "" && st.Fingerprint != fp {
		other = fmt.Sprintf("; home holds keys of another fingerprint (%s) registered with this replica's token: "+
			"if this replica did not register them (it registers its own at every start until confirmed), someone else holds its token: "+
			"remove the replica at home and add it again", st.Fingerprint)
	}
	return "", fmt.Errorf("replica_unconfirmed: home does not trust this replica's keys yet: at home, run 'hcnode replica confirm %s %s' (admin); "+
		"until then it gets no content key and refuses every scanner%s", name, fp, other)
}

// CheckHomeProvince asks home, once at start, for its province, and
// refuses a home node of another province than the replica's
// (*OtherProvinceError). Any other answer, or none, is left to the
// refresh loop, which says it: a replica starts while home is down.
func (r *Replica) CheckHomeProvince(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout(r.cfg.Replica))
	defer cancel()
	var st node.ReplicaStatus
	if err := r.home.do(ctx, http.MethodGet, StatusPath, nil, &st); err != nil {
		r.log.Warn("could not ask the home node for its province at start; the refresh will", "err", err)
		return nil
	}
	if st.Province != r.cfg.Province {
		return r.otherProvince(st.Province)
	}
	return nil
}

// grandfatheredWarning is CheckHome's warning for a replica home serves
// on the enc key it held before the upgrade (node.ReplicaStatus's
// Grandfathered), its fingerprint fp ("" before its first start of this
// build) not confirmed yet.
func grandfatheredWarning(st node.ReplicaStatus, name, fp string) string {
	serving := "home serves this replica (scanners, content keys) on the enc key it held before the upgrade, but its keys' fingerprint " +
		"awaits confirmation: its verification records are held here until then"
	switch {
	case fp == "":
		return serving + "; this replica makes its signing key at its next start: then run 'hcnode check' here again and, at home, " +
			"'hcnode replica confirm " + name + " FINGERPRINT' (admin) with the fingerprint it prints"
	case st.Fingerprint != "" && st.Fingerprint != fp:
		return serving + "; home holds keys of another fingerprint (" + st.Fingerprint + ") registered with this replica's token: " +
			"if this replica did not register them (it registers its own at its start), someone else holds its token: remove the replica " +
			"at home and add it again; else, at home, run 'hcnode replica confirm " + name + " " + fp + "' (admin)"
	}
	return serving + "; at home, run 'hcnode replica confirm " + name + " " + fp + "' (admin), having compared that fingerprint with this one"
}
