package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hcfed/hcfed/node/store"
)

// adminTokenWarnBefore is how long before the last admin token expires
// 'hcnode check' and the start log warn: a week, for someone to mint the
// admins new tokens through the API.
const adminTokenWarnBefore = 7 * 24 * time.Hour

// adminTokenMetricTimeout bounds the read behind the admin token gauge.
const adminTokenMetricTimeout = 2 * time.Second

// recoverHint is what to do when no admin token is left.
const recoverHint = "'hcnode account recover-admin --config FILE --by YOUR_NAME' mints one offline, " +
	"as the node's user on its machine, with the KEK"

// adminTokenState is how long the province's admins can still reach the
// node: its level (ok, warn) and what to say.
func adminTokenState(last time.Time, valid int, now time.Time) (Level, string) {
	rest := last.Sub(now)
	switch {
	case valid == 0 && last.IsZero():
		return LevelWarn, "NO admin token exists: nobody can add accounts, mint tokens or rotate keys through the API; " + recoverHint
	case valid == 0:
		return LevelWarn, fmt.Sprintf("NO admin token is valid: the last expired at %s; nobody can add accounts, mint tokens "+
			"or rotate keys through the API; %s", day(last), recoverHint)
	case rest < adminTokenWarnBefore:
		return LevelWarn, fmt.Sprintf("the last admin token (of %d valid) expires at %s (in %s): mint the admins new ones "+
			"(hcnode account token NAME); once none is left, %s", valid, day(last), left(rest), recoverHint)
	default:
		return LevelOK, fmt.Sprintf("%d valid; the last expires at %s (in %s)", valid, day(last), left(rest))
	}
}

// adminTokens reports the database's admin tokens as a finding.
func (c *checker) adminTokens(ctx context.Context, db *store.DB) {
	const what = "admin tokens"
	last, valid, err := db.AdminTokens(ctx, c.now)
	if err != nil {
		c.fail(what, err)
		return
	}
	l, detail := adminTokenState(last, valid, c.now)
	c.add(l, what, detail)
}

// logAdminTokens says at start how long the admins can still reach the
// node: a warning within adminTokenWarnBefore of the last admin token's
// expiry, or past it.
func logAdminTokens(ctx context.Context, db *store.DB, now time.Time, log *slog.Logger) {
	last, valid, err := db.AdminTokens(ctx, now)
	if err != nil {
		log.Warn("admin tokens could not be read", "err", err)
		return
	}
	l, detail := adminTokenState(last, valid, now)
	if l == LevelOK {
		log.Info("admin tokens", "valid", valid, "last_expires", last.UTC())
		return
	}
	log.Warn("admin tokens: "+detail, "valid", valid, "last_expires", last.UTC())
}

// registerAdminTokenMetric exports hcfed_admin_token_expires_in_seconds,
// read from the database at each scrape, so that a token minted beside
// the node (a break-glass) counts at once.
func registerAdminTokenMetric(r *prometheus.Registry, db *store.DB, now func() time.Time) {
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hcfed_admin_token_expires_in_seconds",
		Help: "Seconds until the last token of an enabled admin account expires; 0 or below when none is valid: " +
			"nobody can manage accounts or keys through the API until one is minted (hcnode account recover-admin). Alert below a week."},
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), adminTokenMetricTimeout)
			defer cancel()
			t := now()
			last, _, err := db.AdminTokens(ctx, t)
			switch {
			case err != nil:
				return math.NaN() // unknown: no alert fires on a failed read
			case last.IsZero():
				return 0
			}
			return last.Sub(t).Seconds()
		}))
}
