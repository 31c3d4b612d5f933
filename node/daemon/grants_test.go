package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// churner is a member whose keys the test holds: it publishes keysets
// as often as it likes, straight onto the transport.
type churner struct {
	t      *testing.T
	id     string
	root   *ecdsa.PrivateKey
	signer *trust.StatementSigner
	conn   *federation.Conn
}

// publishKeyset signs and puts the churner's keyset version, naming enc
// as its encryption key.
func (c *churner) publishKeyset(version uint64, enc *ecdsa.PrivateKey) {
	c.t.Helper()
	now := time.Now()
	e, err := trust.KeysetEntryFor(&trust.Key{ID: c.signer.KeyID(), State: trust.KeyActive, NotBefore: now.Add(-time.Hour),
		Expires: now.Add(14 * 24 * time.Hour), Public: c.signer.Public()})
	if err != nil {
		c.t.Fatal(err)
	}
	encJWK, err := trust.EncJWK(&enc.PublicKey)
	if err != nil {
		c.t.Fatal(err)
	}
	raw, err := trust.SignKeyset(c.root, trust.Keyset{Issuer: c.id, Version: version, IssuedAt: now.Unix(),
		Expires: now.Add(7 * 24 * time.Hour).Unix(), Keys: []trust.KeysetEntry{e}, Enc: encJWK})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.PutState(c.t.Context(), c.id+".keyset", []byte(raw)); err != nil {
		c.t.Fatal(err)
	}
}

// puts counts the values put under each key of the state bucket from
// the moment it is made.
type puts struct {
	mu sync.Mutex
	n  map[string]int
}

// countPuts watches the state bucket through c and counts every value
// put after the latest one there now.
func countPuts(t *testing.T, c *federation.Conn) *puts {
	t.Helper()
	p := &puts{n: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	err := c.WatchState(ctx, func(u federation.StateUpdate) {
		if u.Initial {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.n[u.Key]++
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *puts) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[key]
}

// TestKeysetChurnCostsAGrantToItsProvinceOnly: every peer keyset applied
// made each node publish its keyset, a grant to every member and a
// heartbeat again, so a member republishing its keyset made the whole
// federation rewrite its grants. Now a node grants again only to the
// province whose keyset changed, and only when its encryption key did.
func TestKeysetChurnCostsAGrantToItsProvinceOnly(t *testing.T) {
	t.Parallel()
	f := startFederationWith(t, daemon.ClusterConfig{Provinces: threeProvinces[:2], Republish: time.Hour})
	c := &churner{t: t, id: "320000", root: newKey(t), conn: operatorConn(t, f.c)}
	var err error
	if c.signer, err = trust.NewStatementSigner(newKey(t)); err != nil {
		t.Fatal(err)
	}
	ops := f.c.Operators
	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(),
		trust.Change{Op: "add-member", ID: c.id, Name: "Jiangsu", Key: jwkOf(t, &c.root.PublicKey)}), ops[0], ops[1]))
	f.waitVersion(2)

	var watched, toChurner []string
	for i := range f.c.Nodes {
		self := f.c.Configs[i].Province
		toChurner = append(toChurner, self+".contentkey."+c.id)
		watched = append(watched, self+".contentkey."+c.id, self+".heartbeat", self+".keyset")
		for j := range f.c.Nodes {
			if j != i {
				watched = append(watched, self+".contentkey."+f.c.Configs[j].Province)
			}
		}
	}
	// The churner's first keyset: each node grants to it. Each node's
	// Link also publishes everything once as it starts (keyset, a grant to
	// every member, then its heartbeat), in no set order with the grants
	// that keysets cause: on a loaded machine that first publication came
	// after the grant to the churner, into the puts counted below. The
	// count starts once every node's heartbeat, the last put of it, is in.
	enc := newKey(t)
	c.publishKeyset(1, enc)
	var first []string
	for i := range f.c.Nodes {
		first = append(first, f.c.Configs[i].Province+".heartbeat")
	}
	waitFor(t, "a grant to "+c.id+" and a first heartbeat from every node", func() error {
		for _, k := range slices.Concat(toChurner, first) {
			if _, _, err := c.conn.GetState(t.Context(), k); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		return nil
	})
	seen := countPuts(t, c.conn)

	// Keysets with the same encryption key cost nothing; one with a new
	// key, one grant from each node.
	for v := uint64(2); v <= 4; v++ {
		c.publishKeyset(v, enc)
	}
	c.publishKeyset(5, newKey(t))
	waitFor(t, "every node holding keyset v5 of "+c.id, func() error {
		for i := range f.c.Nodes {
			if v := f.c.Nodes[i].Node.State().Keyset(c.id).Version; v != 5 {
				return fmt.Errorf("%s holds v%d", f.c.Configs[i].Province, v)
			}
		}
		return nil
	})
	waitFor(t, "a new grant to "+c.id+" from every node", func() error {
		for _, k := range toChurner {
			if seen.count(k) == 0 {
				return fmt.Errorf("%s not put again", k)
			}
		}
		return nil
	})
	for _, k := range watched {
		want := 0
		if slices.Contains(toChurner, k) {
			want = 1 // the grant for the new key, none for v2..v4
		}
		if got := seen.count(k); got != want {
			t.Errorf("%s put %d times after %s's keysets v2..v5, want %d", k, got, c.id, want)
		}
	}
}
