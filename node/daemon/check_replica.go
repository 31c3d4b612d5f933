package daemon

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/replica"
)

// replicaHomeView says what the replica last heard from home of its keys
// (replica.HomeView, kept in replica.db): whether home trusted them,
// since when, and when home last answered a refresh. Which key sets home
// holds unconfirmed is known only at home ('hcnode replica list'); this
// is what the replica's machine knows, home reachable or not. Keys home
// did not trust are a warning saying what to run at home.
func (c *checker) replicaHomeView(ctx context.Context) {
	const what = "home's answer"
	v, ok, err := replica.ReadHomeView(ctx, c.cfg.ReplicaDBPath())
	switch {
	case err != nil:
		c.warn(what, fmt.Sprintf("what the replica last heard from home cannot be read from %s: %v", c.cfg.ReplicaDBPath(), err))
		return
	case !ok || v.Fingerprint != c.replicaFP:
		c.ok(what, "none recorded for these keys yet: the replica records what home says of them once it runs")
		return
	}
	fp, name := c.replicaFP, cmp.Or(v.Name, "NAME")
	refreshed := "home has answered no refresh of this replica's yet"
	if !v.Refreshed.IsZero() {
		refreshed = "home last answered a refresh at " + day(v.Refreshed) + " (" + ago(c.now.Sub(v.Refreshed)) + ", to the minute)"
	}
	since := " since " + day(v.Said) + " (" + ago(c.now.Sub(v.Said)) + ")"
	confirm := fmt.Sprintf("at home, compare the fingerprint with this one and run 'hcnode replica confirm %s %s' (admin)", name, fp)
	switch v.Keys {
	case replica.KeysTrusted:
		c.ok(what, fmt.Sprintf("home trusted these keys as replica %s%s; %s", name, since, refreshed))
	case replica.KeysGrandfathered:
		c.warn(what, fmt.Sprintf("home has served replica %s on the enc key it held before its upgrade%s, these keys' fingerprint not "+
			"confirmed: the replica's verification records wait here; %s; %s", name, since, confirm, refreshed))
	case string(node.EReplicaKeysLimit):
		c.warn(what, fmt.Sprintf("home has refused these keys%s (replica_keys_limit): it holds as many other unconfirmed key sets for "+
			"replica %s as it takes, until the oldest is dropped (limits.replica_keys_window); %s, and they are taken at the next "+
			"registration; if this replica did not register the others, someone else holds its token; %s", since, name, confirm, refreshed))
	case string(node.EConflict):
		c.warn(what, fmt.Sprintf("home has refused these keys%s (conflict): it trusts other keys for replica %s; if this replica made new "+
			"keys (its data directory was lost), %s; %s", since, name, confirm, refreshed))
	default:
		c.warn(what, fmt.Sprintf("home has not trusted these keys%s (%s): it sends replica %s no content key, and the replica refuses "+
			"every scanner; %s; %s", since, strings.ReplaceAll(v.Keys, "_", " "), name, confirm, refreshed))
	}
}

// ago says how long ago something was, d before the check: in minutes,
// hours and minutes, or days.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute ago"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
	return strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s") + " ago"
}
