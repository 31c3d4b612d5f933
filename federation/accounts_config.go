package federation

import (
	"fmt"

	"github.com/nats-io/nkeys"
)

// AccountsOptions shapes the nats-server configuration GenerateServerConfig
// writes. Zero values take the defaults of limits.go.
type AccountsOptions struct {
	// Federation is the federation id. Required.
	Federation string
	// ServerName, Host, Port and StoreDir go into the configuration as
	// they are; empty or zero leaves them out (nats-server's defaults, or
	// what federation.StartServer sets).
	ServerName string
	Host       string
	Port       int
	StoreDir   string
	// Replicas is the JetStream replication the nodes will ask for (see
	// ConnConfig.Replicas); account byte quotas are multiplied by it.
	Replicas int
	// MaxConsumers is each account's consumer quota; default
	// DefaultAccountMaxConsumers.
	MaxConsumers int
	// MaxConnections is each account's limit on client connections, and
	// MaxSubscriptions the limit on the subscriptions of each of them;
	// default DefaultAccountMaxConnections and
	// DefaultAccountMaxSubscriptions.
	MaxConnections   int
	MaxSubscriptions int
	// ExtraFileBytes is added to each account's computed file quota
	// (headroom); default 0.
	ExtraFileBytes int64
	// Keep are seeds to keep, by file name (Seed.File): a user whose seed
	// is here keeps its key, so regenerating for a new member locks no
	// one out. The others get new seeds.
	Keep map[string][]byte
	// ClusterBlock is copied verbatim into the configuration (a
	// `cluster { ... }` block), for a clustered deployment; empty for one
	// server.
	ClusterBlock string
}

// Seed is one generated NKey user: the file name its seed should be
// written to, the account and role it belongs to, and the seed itself.
type Seed struct {
	File    string // e.g. "440000.nk", "440000-admin.nk", "operator.nk"
	Account string // NATS account
	Role    string // "node", "admin", "verifier" or "operator"
	Public  string // the user's public NKey (what the server config holds)
	Seed    []byte // the secret seed; never log it
}

// GeneratedConfig is what GenerateServerConfig produces: the server
// configuration (public keys only) and the seeds to hand out.
type GeneratedConfig struct {
	Config []byte
	Seeds  []Seed
}

// Roles of generated users.
const (
	RoleNode     = "node"     // a province's node: writes its own assets, reads the aggregates, serves its requests
	RoleAdmin    = "admin"    // creates and updates the JetStream assets of one province's account (held by the operators)
	RoleVerifier = "verifier" // a verify-only replica: reads the aggregates and snapshots, asks for fresh snapshots, publishes and serves nothing else
	RoleOperator = "operator" // the federation operators: the trust list and their own account's assets
)

// GenerateServerConfig writes a nats-server configuration that gives the
// federation's operators and every member province a NATS account of its
// own (accounts mode, see accounts.go), with JetStream quotas per account,
// the exports and imports by which the server fills each account's
// aggregates and routes requests addressed to a province, and NKey users:
// per province a node user, an admin user (for the operators' EnsureStreams)
// and a verifier user; one operator user. New seeds are made on each call.
func GenerateServerConfig(members []string, o AccountsOptions) (*GeneratedConfig, error) {
	members, err := checkMembers(o.Federation, members)
	if err != nil {
		return nil, err
	}
	g := &generator{fed: o.Federation, members: members, o: o}
	out := &GeneratedConfig{}
	users := map[string][]userEntry{}
	add := func(owner, role, file string) error {
		kp, err := nkeys.CreateUser()
		if old, ok := o.Keep[file]; ok {
			kp, err = nkeys.FromSeed(old)
		}
		if err != nil {
			return fmt.Errorf("nkey %s: %w", file, err)
		}
		seed, err := kp.Seed()
		if err != nil {
			return fmt.Errorf("nkey: %w", err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return fmt.Errorf("nkey: %w", err)
		}
		if !nkeys.IsValidPublicUserKey(pub) {
			return fmt.Errorf("nkey %s: not a user seed", file)
		}
		out.Seeds = append(out.Seeds, Seed{File: file, Account: accountName(owner), Role: role, Public: pub, Seed: seed})
		users[owner] = append(users[owner], userEntry{pub: pub, role: role, perms: g.permissions(owner, role)})
		return nil
	}
	if err := add(operatorTag, RoleOperator, SeedFile("", RoleOperator)); err != nil {
		return nil, err
	}
	for _, p := range members {
		for _, r := range []string{RoleNode, RoleAdmin, RoleVerifier} {
			if err := add(p, r, SeedFile(p, r)); err != nil {
				return nil, err
			}
		}
	}
	out.Config = g.render(users)
	return out, nil
}

type userEntry struct {
	pub, role string
	perms     perms
}

type perms struct{ pub, sub []string }

type generator struct {
	fed     string
	members []string
	o       AccountsOptions
}

// owners are the accounts' owners: the operators, then every member.
func (g *generator) owners() []string { return append([]string{operatorTag}, g.members...) }

// permissions of a user of owner's account in role.
func (g *generator) permissions(owner, role string) perms {
	switch role {
	case RoleOperator:
		return perms{
			pub: []string{"$JS.API.>", "$JS.FC.>", "$JS.ACK.>", "$KV." + ownBucketName(g.fed, operatorTag) + "." + string(KindTrustList)},
			sub: []string{"_INBOX.>"},
		}
	case RoleAdmin:
		return perms{pub: []string{"$JS.API.>"}, sub: []string{"_INBOX_" + owner + ".>"}}
	}
	p := owner
	aggKV, aggRev := "KV_"+bucketName(g.fed), streamName(g.fed)
	ownKV, ownRev, ownSnap := "KV_"+ownBucketName(g.fed, p), ownStreamName(g.fed, p), "OBJ_"+ownSnapshotBucketName(g.fed, p)
	read := []string{"$JS.API.INFO"}
	for _, s := range []string{aggKV, aggRev, ownKV, ownRev, ownSnap} {
		read = append(read, "$JS.API.STREAM.INFO."+s)
	}
	read = append(read, "$JS.API.STREAM.MSG.GET."+aggKV, "$JS.API.STREAM.MSG.GET."+aggRev,
		"$JS.API.DIRECT.GET."+aggKV, "$JS.API.DIRECT.GET."+aggKV+".>",
		"$JS.API.DIRECT.GET."+ownSnap, "$JS.API.DIRECT.GET."+ownSnap+".>")
	for _, s := range []string{aggKV, aggRev} {
		read = append(read, "$JS.API.CONSUMER.CREATE."+s, "$JS.API.CONSUMER.CREATE."+s+".>",
			"$JS.API.CONSUMER.INFO."+s+".*", "$JS.API.CONSUMER.DELETE."+s+".*",
			"$JS.API.CONSUMER.MSG.NEXT."+s+".*", "$JS.FC."+s+".>", "$JS.ACK."+s+".>")
	}
	for _, q := range g.members {
		if q == p {
			continue
		}
		snap := "OBJ_" + ownSnapshotBucketName(g.fed, q)
		read = append(read, apiPrefix(q)+".STREAM.INFO."+snap, apiPrefix(q)+".DIRECT.GET."+snap, apiPrefix(q)+".DIRECT.GET."+snap+".>")
	}
	inbox := "_INBOX_" + p + ".>"
	if role == RoleVerifier {
		// Its one publication: asking a province for a fresh snapshot in
		// its own province's name when it finds a gap (a request, never
		// stored; the server routes only the imports naming this account).
		ask := subjectRoot + "." + g.fed + "." + p + "." + string(KindSnapshotRequest) + ".*"
		return perms{pub: append(read, ask), sub: []string{inbox}}
	}
	pub := append([]string{
		subjectRoot + "." + g.fed + "." + p + ".>",
		"$KV." + ownBucketName(g.fed, p) + "." + p + ".>",
		"$O." + ownSnapshotBucketName(g.fed, p) + ".>",
		"$JS.API.STREAM.MSG.GET." + ownRev,
		"$JS.API.STREAM.PURGE." + ownSnap,
		stepdownSubject(aggKV), stepdownSubject(aggRev), // WatchSources: a new leader sets stalled sources up afresh
		"_R_.>", // replies to requests that came through a service import
	}, read...)
	sub := []string{inbox}
	for _, k := range []Kind{KindLookup, KindReceipts, KindSnapshotRequest} {
		sub = append(sub, toProvince(g.fed, k, p))
	}
	return perms{pub: pub, sub: sub}
}
