package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// Every attack of trust/trustlist_test.go, made again on real NATS between
// real nodes: each forged trust list is put in the state bucket, where
// every node's watcher receives it, and each node must keep the list it
// holds, count the refusal under its reason and log it without the
// statement's bytes. The legitimate version published afterwards proves
// the attacks left nothing broken behind.
func TestTrustListAttacksOnNATSAreRefusedCountedAndLogged(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	f := startFederationWith(t, daemon.ClusterConfig{Provinces: threeProvinces,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	ops := f.c.Operators
	strangers := []*ecdsa.PrivateKey{newKey(t), newKey(t), newKey(t)}
	now := time.Now()

	// A legitimate v2, so that there is an older version to roll back to.
	v1 := f.held()
	f.publish(signWith(t, propose(t, v1.TrustList, now), ops[1], ops[2]))
	f.waitVersion(2)
	held := f.held()
	next := propose(t, held.TrustList, now)

	attacks := []struct {
		name   string
		reason string // "" for a replay of the very bytes held: ignored, not counted
		doc    []byte
	}{
		{"rollback to v1", "rollback", v1.Raw},
		{"replay of v2 as held", "", held.Raw},
		{"replay of v2 signed anew", "rollback", signWith(t, held.TrustList, ops[0], ops[2])},
		{"v3 signed by k-1 operators", "threshold", signWith(t, next, ops[0])},
		{"v3 signed k times by one operator", "threshold", signWith(t, next, ops[0], ops[0])},
		{"v3 signed by k non-operators", "threshold", signWith(t, next, strangers[0], strangers[1])},
		{"operators rotated with one of the old set", "threshold", signWith(t,
			propose(t, held.TrustList, now, append(replaceOperators(t, held.TrustList, strangers), trust.Change{Op: "threshold", N: 2})...),
			strangers[0], strangers[1], ops[0])},
		{"v3 expired (freeze)", "expired", signWith(t, propose(t, held.TrustList, now.Add(-2*time.Hour),
			trust.Change{Op: "expires", Duration: time.Hour}), ops[0], ops[1])},
		{"root of 440000 replaced by one operator and a stranger", "threshold", signWith(t,
			propose(t, held.TrustList, now, trust.Change{Op: "set-root", ID: "440000", Key: jwkOf(t, &strangers[2].PublicKey)}),
			ops[0], strangers[2])},
		{"v3 of another federation", "wrong_signer", signWith(t,
			propose(t, held.TrustList, now, trust.Change{Op: "federation", Value: "other"}), ops[0], ops[1])},
	}
	counted := 0
	for _, a := range attacks {
		series := `hcfed_statements_total{kind="trustlist",reason="` + a.reason + `"}`
		before := make([]float64, len(f.c.Nodes))
		for i, d := range f.c.Nodes {
			before[i] = metricValue(t, d, series)
		}
		f.publish(a.doc)
		if a.reason == "" {
			continue // the next attack, counted, proves this one was processed
		}
		counted++
		for i, d := range f.c.Nodes {
			f.waitMetric(d, series, before[i]+1)
		}
		f.requireHeld(a.name, held)
		f.requireLogged(logs, a.reason, int(before[0])+1)
		requireNotLogged(t, logs, a.name, a.doc)
	}

	for _, d := range f.c.Nodes {
		if got := metricSum(t, d, `hcfed_statements_total{kind="trustlist",reason="`, `reason="ok"`); got != float64(counted) {
			t.Errorf("%s counted %v refused trust lists, want %d (the replay of the held bytes is not one)", d.Node.Province(), got, counted)
		}
	}
	if got := f.verify(1, code); got != "ok" {
		t.Fatalf("Guangdong code in Shanghai after the attacks: %s", got)
	}

	// The next legitimate version, signed by k current operators, is accepted by all.
	f.publish(signWith(t, next, ops[0], ops[2]))
	f.waitVersion(3)
	if got := f.verify(2, code); got != "ok" {
		t.Fatalf("Guangdong code in Beijing under v3: %s", got)
	}
}

// Suspension and reinstatement are the operators' fastest lever after a
// compromise: the test reports how long each took, from publication, to
// change the answer of every node's scanner API.
func TestSuspensionAndReinstatementReachPeers(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	for i := range f.c.Nodes {
		f.eventually(i, code, "ok")
	}
	ops := f.c.Operators
	for _, step := range []struct {
		change trust.Change
		want   string
		signer []*ecdsa.PrivateKey
	}{
		{trust.Change{Op: "suspend", ID: "440000"}, "issuer_suspended", ops[:2]},
		{trust.Change{Op: "reinstate", ID: "440000"}, "ok", ops[1:]},
	} {
		doc := signWith(t, propose(t, f.held().TrustList, time.Now(), step.change), step.signer...)
		start := time.Now()
		f.publish(doc)
		for i := range f.c.Nodes {
			f.eventually(i, code, step.want)
			t.Logf("%s 440000: %s answers %s %v after publication", step.change.Op, f.c.Configs[i].Province, step.want, time.Since(start))
		}
	}
}

// A removed province's codes are unknown to its peers, its keyset is
// dropped, and what it goes on publishing (its keyset, which its link
// republishes every 30 s) is not applied again.
func TestRemovedProvinceStatementsAreIgnored(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	ops := f.c.Operators
	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "remove", ID: "440000"}), ops[0], ops[1]))
	f.waitVersion(2)
	if got := f.verify(1, code); got != "unknown_issuer" {
		t.Fatalf("code of a removed province in Shanghai: %s", got)
	}
	if ks := f.c.Nodes[1].Node.State().Keyset("440000"); ks != nil {
		t.Fatalf("Shanghai kept the keyset of a removed province (v%d)", ks.Version)
	}
	// Guangdong's link republishes its keyset (every 30 s); then Beijing
	// rotates and publishes a new one. The state bucket is one stream,
	// delivered in order: once Shanghai holds Beijing's new keyset, it has
	// seen Guangdong's.
	conn := operatorConn(t, f.c)
	if _, err := conn.PutState(context.Background(), "440000.keyset", []byte(f.c.Nodes[0].Node.Keyset())); err != nil {
		t.Fatal(err)
	}
	f.rotate(2)
	bj := f.c.Nodes[2].Node.State().Keyset("110000").Version
	waitFor(t, "Beijing's new keyset in Shanghai", func() error {
		if ks := f.c.Nodes[1].Node.State().Keyset("110000"); ks.Version < bj {
			return fmt.Errorf("Shanghai holds v%d, want v%d", ks.Version, bj)
		}
		return nil
	})
	if ks := f.c.Nodes[1].Node.State().Keyset("440000"); ks != nil {
		t.Fatalf("Shanghai applied a keyset of a removed province (v%d)", ks.Version)
	}
	if got := f.verify(1, f.issue(0, mustEnrol(t, f, 0))); got != "unknown_issuer" {
		t.Fatalf("new code of a removed province in Shanghai: %s", got)
	}
}

// A province joins a running federation: its node starts against the same
// NATS, pinned to the list in force, and its codes verify in every other
// node once the operators list it, with no restart anywhere.
func TestNewProvinceJoinsLive(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	_, gdCode := f.enrolAndIssue(0, "张三", "11010519491231002X")
	js := f.addProvince(daemon.Province{ID: "320000", Name: "Jiangsu", Listen: "127.0.0.1:0"})
	_, jsCode := f.enrolAndIssue(js, "李四", "110105194912310046")
	if got := f.verify(js, jsCode); got != "ok" {
		t.Fatalf("Jiangsu's own code in Jiangsu before it is listed: %s", got)
	}
	// It holds its peers' keysets, but no peer grants a content key to a
	// province its list does not name.
	f.eventually(js, gdCode, "no_content_key")
	if got := f.verify(1, jsCode); got != "unknown_issuer" {
		t.Fatalf("Jiangsu code in Shanghai before the operators list it: %s", got)
	}
	root := readFile(t, daemon.RootJWKPath(f.c.Configs[js]))
	ops := f.c.Operators
	start := time.Now()
	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(),
		trust.Change{Op: "add-member", ID: "320000", Name: "Jiangsu", Key: root}), ops[0], ops[2]))
	for i := range f.c.Nodes {
		f.eventually(i, jsCode, "ok")
	}
	t.Logf("v2 lists 320000: its code verifies in all four nodes %v after publication", time.Since(start))
	f.eventually(js, gdCode, "ok")
	t.Logf("and a Guangdong code verifies in Jiangsu %v after publication", time.Since(start))
}

// A province's root key changes only through the trust list: a keyset
// signed by a new root is refused until a version naming that root (k
// operators) is accepted, and then the same keyset is accepted. The node
// has no root-rotation command, so the test signs the province's keyset
// with the new root itself, as that command would.
func TestRootKeyRotationOnlyThroughTrustList(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	sh := f.c.Nodes[1]
	oldRoot, _, err := trust.ParsePublicJWK(readFile(t, daemon.RootJWKPath(f.c.Configs[0])))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := trust.ParseKeyset(f.c.Nodes[0].Node.Keyset(), "440000", oldRoot)
	if err != nil {
		t.Fatal(err)
	}
	newRoot := newKey(t)
	ks := cur.Keyset
	ks.Version, ks.IssuedAt = ks.Version+1, time.Now().Unix()
	rotated, err := trust.SignKeyset(newRoot, ks)
	if err != nil {
		t.Fatal(err)
	}
	conn := operatorConn(t, f.c)
	put := func() {
		if _, err := conn.PutState(context.Background(), "440000.keyset", []byte(rotated)); err != nil {
			t.Fatal(err)
		}
	}
	series := `hcfed_statements_total{kind="keyset",reason="wrong_signer"}`
	before := metricValue(t, sh, series)
	put()
	f.waitMetric(sh, series, before+1)
	if got := sh.Node.State().Keyset("440000"); got.Version != cur.Version {
		t.Fatalf("Shanghai holds Guangdong keyset v%d, want v%d signed by the listed root", got.Version, cur.Version)
	}
	ops := f.c.Operators
	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(),
		trust.Change{Op: "set-root", ID: "440000", Key: jwkOf(t, &newRoot.PublicKey)}), ops[1], ops[2]))
	f.waitVersion(2)
	// The list drops the keyset the replaced root signed, and Shanghai
	// reads Guangdong's keyset again from the bucket: the one the new
	// root signed, refused when it came before the list, applies now
	// without being published again.
	if got := sh.Node.State().Keyset("440000"); got != nil && got.Version != ks.Version {
		t.Fatalf("Shanghai kept a keyset signed by the replaced root (v%d)", got.Version)
	}
	took := f.eventually(1, code, "ok")
	if got := sh.Node.State().Keyset("440000"); got == nil || got.Version != ks.Version {
		t.Fatalf("Shanghai holds %+v, want the keyset signed by the new root", got)
	}
	t.Logf("keyset under the new root applied in Shanghai %v after the list naming it", took)
}

// A trust list nearing expiry is announced three ways: the gauge, a log
// warning and /v1/federation; once expired, verification answers
// trust_stale; a fresh version published by k operators recovers.
func TestTrustListNearExpiryWarnsAndExpiredAnswersTrustStale(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	clock := &testClock{}
	// Heartbeats every second: after the clock's jump, the next one makes
	// Guangdong's revocations current again (trust.revocations_max_age).
	f := startFederationWith(t, daemon.ClusterConfig{Provinces: threeProvinces, Now: clock.Now, Republish: time.Second,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	const gauge = "hcfed_trustlist_expires_in_seconds"
	for _, d := range f.c.Nodes {
		waitFor(t, "gauge of the first list", func() error {
			if v := metricValue(t, d, gauge); v < (89 * 24 * time.Hour).Seconds() {
				return fmt.Errorf("%s = %v", gauge, v)
			}
			return nil
		})
	}
	ops := f.c.Operators
	f.publish(signWith(t, propose(t, f.held().TrustList, clock.Now(), trust.Change{Op: "expires", Duration: 2 * time.Hour}), ops[0], ops[1]))
	f.waitVersion(2)
	for i, d := range f.c.Nodes {
		waitFor(t, d.Node.Province()+" gauge of v2", func() error {
			if v := metricValue(t, d, gauge); v <= 0 || v > (2*time.Hour).Seconds() {
				return fmt.Errorf("%s = %v, want (0, 7200]", gauge, v)
			}
			return nil
		})
		f.requireLine(logs, "trust list expires soon", f.c.Configs[i].Province)
		var view struct {
			TrustList struct {
				Version     uint64 `json:"version"`
				ExpiresSoon bool   `json:"expires_soon"`
			} `json:"trust_list"`
			Warnings []string `json:"warnings"`
		}
		f.call(i, "GET", "/v1/federation", "", nil, &view)
		if !view.TrustList.ExpiresSoon || !containsPrefix(view.Warnings, "trust list v2 expires ") {
			t.Errorf("%s /v1/federation: %+v", d.Node.Province(), view)
		}
	}
	if got := f.verify(1, code); got != "ok" {
		t.Fatalf("before expiry: %s", got)
	}

	clock.Advance(3 * time.Hour)
	for i, d := range f.c.Nodes {
		if got := f.verify(i, code); got != "trust_stale" {
			t.Errorf("%s after the trust list expired: %s", d.Node.Province(), got)
		}
		f.waitMetricBelow(d, gauge, 0)
		f.requireLine(logs, "trust list expired", f.c.Configs[i].Province)
	}

	// Recovery: k operators sign a fresh version; the expired one it replaces
	// does not stand in the way.
	f.publish(signWith(t, propose(t, f.held().TrustList, clock.Now(), trust.Change{Op: "expires", Duration: 90 * 24 * time.Hour}), ops[1], ops[2]))
	f.waitVersion(3)
	for i := range f.c.Nodes {
		f.eventually(i, code, "ok")
	}
}

// Two operator rotations, each one signed as the rules ask, must not
// cost a node the trust list it holds: neither when it restarts (it
// restores the list it last accepted, not its pinned first version), nor
// when it was offline meanwhile (it walks the versions the state bucket
// keeps, each checked against the one before).
func TestNodeKeepsTrustAcrossOperatorRotations(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	if err := f.c.Stop(2); err != nil {
		t.Fatal(err)
	}
	ops := f.c.Operators
	op4, op5 := newKey(t), newKey(t)
	v2 := propose(t, f.held().TrustList, time.Now(),
		trust.Change{Op: "add-operator", ID: "op4", Key: jwkOf(t, &op4.PublicKey)}, trust.Change{Op: "remove-operator", ID: "op1"})
	f.publish(signWith(t, v2, ops[1], ops[2]))
	v3 := propose(t, v2, time.Now(), trust.Change{Op: "add-operator", ID: "op5", Key: jwkOf(t, &op5.PublicKey)},
		trust.Change{Op: "remove-operator", ID: "op2"}, trust.Change{Op: "suspend", ID: "440000"})
	f.publish(signWith(t, v3, ops[2], op4))
	f.eventually(1, code, "issuer_suspended")
	if err := f.c.Restart(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if v := f.c.Nodes[1].Node.State().TrustList().Version; v != 3 {
		t.Errorf("Shanghai restarted holding v%d, want v3; it answers %q for a code of the suspended province", v, f.verify(1, code))
	}
	if err := f.c.Restart(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	f.eventually(2, code, "issuer_suspended")
}
