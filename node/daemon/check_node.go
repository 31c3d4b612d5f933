package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/datadir"
	"github.com/hcfed/hcfed/node/replica"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// dataDir checks the data directory: that it holds a node, who owns it
// and may read it, and whether a node runs on it. It reports whether the
// node's own checks can go on.
func (c *checker) dataDir() bool {
	const what = "data directory"
	dir := c.cfg.DataDir
	if err := datadir.RequireNode(dir, c.cfg.DBPath()); err != nil {
		c.fail(what, err)
		return false
	}
	fi, err := os.Stat(dir)
	if err != nil {
		c.fail(what, err)
		return false
	}
	var loose []string
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		loose = append(loose, fmt.Sprintf("mode %04o lets other users of this machine into it (chmod 700 %s)", perm, dir))
	}
	if owner := otherOwner(fi); owner != "" {
		loose = append(loose, owner)
	}
	if len(loose) > 0 {
		c.warn(what, dir+": "+strings.Join(loose, "; "))
	}
	holder, held, err := datadir.Holder(dir)
	switch {
	case err != nil:
		c.fail(what, err)
		return false
	case held && strings.HasPrefix(holder, "hcnode serve"):
		c.running = true
		c.ok(what, "a node is running on this data directory ("+holder+"); checked beside it, read-only")
	case held:
		c.warn(what, holder+" holds "+dir+": serve is refused until it ends")
	case len(loose) == 0:
		c.ok(what, dir+" holds a node; none is running on it")
	}
	return true
}

// node checks what a start loads from the data directory: the KEK, the
// database, the keys the KEK opens and the trust list.
func (c *checker) node(ctx context.Context) {
	kek := c.kek()
	db := c.database(ctx)
	if db == nil {
		return
	}
	defer db.Close()
	c.keyStore(ctx)
	c.notice(ctx, db)
	c.adminTokens(ctx, db)
	if kek == nil {
		return
	}
	c.keys(ctx, db, kek)
	c.trustList(ctx, db, kek)
}

// notice checks that the privacy notice a start would serve is the text
// served so far under its version (node.CheckNotice, as node.New
// refuses).
func (c *checker) notice(ctx context.Context, db *store.DB) {
	const what = "privacy notice"
	n, err := node.CheckNotice(ctx, db, c.cfg)
	switch {
	case err != nil:
		c.fail(what, err)
	case n.FirstServed.IsZero():
		c.ok(what, "version "+n.Version+" not served yet: its text is recorded when the node first serves it")
	default:
		c.ok(what, "version "+n.Version+" says what it has said since it was first served, "+day(n.FirstServed))
	}
}

func (c *checker) kek() *seal.Key {
	kek, err := seal.LoadKEK(c.cfg.KEKPath())
	if err != nil {
		c.fail("KEK", err)
		return nil
	}
	src := c.cfg.KEKPath()
	if os.Getenv(seal.EnvKEK) != "" {
		src = "$" + seal.EnvKEK + " (it wins over kek_file)"
	}
	c.ok("KEK", fmt.Sprintf("%d bytes from %s", seal.KeyLen, src))
	return kek
}

// database opens the database read-only and checks its schema and pages.
func (c *checker) database(ctx context.Context) *store.DB {
	const what = "database"
	db, err := store.OpenReadOnly(ctx, c.cfg.DBPath())
	if err != nil {
		c.fail(what, datadir.OwnerHint(err, c.cfg.DBPath()))
		return nil
	}
	pending, err := db.Schema(ctx)
	if err != nil {
		c.fail(what, err)
		db.Close()
		return nil
	}
	schema := "schema current"
	if pending > 0 {
		schema = fmt.Sprintf("schema older than this build: will migrate %d step%s at start, after which an older build "+
			"refuses it (hcnode backup first)", pending, plural(pending))
	}
	qctx, cancel := context.WithTimeout(ctx, quickCheckTimeout)
	defer cancel()
	switch err := db.QuickCheck(qctx); {
	case err == nil:
		c.ok(what, c.cfg.DBPath()+" opens; "+schema+"; quick_check ok")
	case qctx.Err() != nil && ctx.Err() == nil:
		c.ok(what, c.cfg.DBPath()+" opens; "+schema)
		c.warn(what, fmt.Sprintf("quick_check did not finish within %s: not checked", quickCheckTimeout))
	default:
		c.fail(what, err)
	}
	return db
}

// keyStore checks the key store (keys.db) as database checks node.db:
// read-only, its schema read as a start reads it, quick_check. A missing
// one is a FAIL when the database holds residents (serve refuses: their
// data keys were in it), else a warning: a start makes an empty one.
func (c *checker) keyStore(ctx context.Context) {
	path := store.KeysPath(c.cfg.DBPath())
	c.storeFile(ctx, "key store", path, store.CheckKeyStore, func() {
		if err := store.KeyStoreNotLost(ctx, c.cfg.DBPath(), path); err != nil {
			c.fail("key store", err) // serve refuses in the same words
			return
		}
		c.warn("key store", path+" is missing: serve makes an empty one, and no resident is enrolled yet"+
			"; if this node had one, put it back first (hcnode restore --keys-from)")
	})
}

// replicaStore checks a verifier replica's database (replica.db) as
// keyStore checks keys.db; one not made yet is made at the first start.
func (c *checker) replicaStore(ctx context.Context) {
	path := c.cfg.ReplicaDBPath()
	c.storeFile(ctx, "replica database", path, store.CheckReplicaStore, func() {
		c.ok("replica database", path+" not made yet: the first start makes it")
	})
}

// replicaKEK checks the KEK a verifier replica's start loads (StartVerifier
// makes one if there is neither a KEK file nor $HCNODE_KEK) and that it
// opens the enc key the replica database holds, in the start's words.
func (c *checker) replicaKEK(ctx context.Context) {
	var held []byte
	if _, err := os.Stat(c.cfg.ReplicaDBPath()); err == nil {
		// An unreadable replica database is the replica database check's
		// finding; one without an enc key gets it at the first start.
		held, _ = store.ReplicaMetaReadOnly(ctx, c.cfg.ReplicaDBPath(), replica.EncKeyMeta)
	}
	if os.Getenv(seal.EnvKEK) == "" {
		if _, err := os.Stat(c.cfg.KEKPath()); errors.Is(err, os.ErrNotExist) {
			if held == nil {
				c.ok("KEK", c.cfg.KEKPath()+" not made yet: the first start makes it")
				return
			}
			c.fail("KEK", fmt.Errorf("%s is not there, and %s holds an enc key sealed under the KEK it was made with: "+
				"a start would make a new KEK that cannot open it. Put the KEK back (kek_file or $%s)",
				c.cfg.KEKPath(), c.cfg.ReplicaDBPath(), seal.EnvKEK))
			return
		}
	}
	kek := c.kek()
	if kek == nil || held == nil {
		return
	}
	if _, err := replica.OpenEncKey(kek, held); err != nil {
		c.fail("replica enc key", err)
		return
	}
	c.ok("replica enc key", "the KEK opens the enc key "+c.cfg.ReplicaDBPath()+" holds")
	sig, _ := store.ReplicaMetaReadOnly(ctx, c.cfg.ReplicaDBPath(), replica.SigKeyMeta)
	if sig == nil {
		c.ok("replica keys", "no signing key yet (a replica of an older build): the next start makes it and prints the keys' fingerprint")
		return
	}
	keys, err := replica.ReadKeys(kek, held, sig)
	if err != nil {
		c.fail("replica keys", err)
		return
	}
	fp := keys.Fingerprint
	c.replicaFP = fp
	c.ok("replica keys", "fingerprint "+fp+" (enc key "+keys.EncKeyID+", the key_id 'hcnode replica list' shows at home; signing key "+
		keys.SigKeyID+"): home trusts them once an admin has confirmed that fingerprint there ('hcnode replica confirm NAME "+fp+"')")
	c.replicaHomeView(ctx)
}

// replicaHome asks the home node, as the replica would, whether it
// answers at replica.home and accepts the replica's token (one request,
// which writes nothing at a home of this build: replica.CheckHome).
func (c *checker) replicaHome(ctx context.Context) {
	hctx, cancel := context.WithTimeout(ctx, homeCheckTimeout)
	defer cancel()
	warn, err := replica.CheckHome(hctx, c.cfg.Replica, c.cfg.Province, c.replicaFP)
	switch {
	case err != nil:
		c.fail("home node", err)
	case warn != "":
		c.warn("home node", warn)
	default:
		c.ok("home node", c.cfg.Replica.Home+" answers, is of province "+c.cfg.Province+
			", accepts this replica's token and trusts its keys (fingerprint "+c.replicaFP+")")
	}
}

// storeFile reports check(path), a store preflight bounded by
// quickCheckTimeout, as what; missing reports a file that is not there.
func (c *checker) storeFile(ctx context.Context, what, path string, check func(context.Context, string) error, missing func()) {
	qctx, cancel := context.WithTimeout(ctx, quickCheckTimeout)
	defer cancel()
	switch err := check(qctx, path); {
	case err == nil:
		c.ok(what, path+" opens; quick_check ok")
	case errors.Is(err, os.ErrNotExist):
		missing()
	case qctx.Err() != nil && ctx.Err() == nil:
		c.warn(what, fmt.Sprintf("%s: quick_check did not finish within %s: not checked", path, quickCheckTimeout))
	default:
		c.fail(what, datadir.OwnerHint(err, path))
	}
}

// keys checks that the KEK opens every key of the database, and the
// signing key's schedule.
func (c *checker) keys(ctx context.Context, db *store.DB, kek *seal.Key) {
	sk, err := node.CheckKeys(ctx, db, kek, c.cfg)
	if err != nil {
		c.fail("keys", err)
		return
	}
	c.ok("keys", "the KEK opens every key of the database")
	switch {
	case sk.Active == "":
		c.warn("signing key", "none is active: the node makes one at start")
	case !c.now.Before(sk.RotationDue):
		c.warn("signing key", fmt.Sprintf("%s was due to be replaced at %s (keys.rotation): the node rotates at start",
			sk.Active, day(sk.RotationDue)))
	default:
		c.ok("signing key", fmt.Sprintf("%s active; next rotation %s (in %s)", sk.Active, day(sk.RotationDue),
			left(sk.RotationDue.Sub(c.now))))
	}
}

// trustList checks the federation trust list the node would hold: the
// pinned file (read, its SHA-256, the chain rules) as a start takes it,
// and its expiry.
func (c *checker) trustList(ctx context.Context, db *store.DB, kek *seal.Key) {
	const what = "trust list"
	tl, err := node.CheckTrust(ctx, db, kek, c.cfg, c.now)
	switch {
	case err != nil:
		c.fail(what, err)
		return
	case tl == nil:
		c.warn(what, "none held and none pinned (trust.list_file): the node verifies its own province's codes only")
		return
	}
	exp, rest := tl.ExpiresAt(), tl.ExpiresAt().Sub(c.now)
	switch {
	case rest <= 0:
		c.fail(what, fmt.Errorf("version %d expired at %s: every verification answers trust_stale until the federation "+
			"operators publish a new version; pin it (trust.list_file, trust.list_sha256)", tl.Version, day(exp)))
	case rest < federation.DefaultExpiryWarning:
		c.warn(what, fmt.Sprintf("version %d expires at %s (in %s): the federation operators must sign and publish a new version",
			tl.Version, day(exp), left(rest)))
	default:
		c.ok(what, fmt.Sprintf("version %d of federation %s, expires %s (in %s)", tl.Version, tl.Federation, day(exp), left(rest)))
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
