package federation

import (
	"fmt"
	"strconv"
	"strings"

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
	RoleVerifier = "verifier" // a verify-only replica: reads the aggregates and snapshots, publishes and serves nothing
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
		return perms{pub: read, sub: []string{inbox}}
	}
	pub := append([]string{
		subjectRoot + "." + g.fed + "." + p + ".>",
		"$KV." + ownBucketName(g.fed, p) + "." + p + ".>",
		"$O." + ownSnapshotBucketName(g.fed, p) + ".>",
		"$JS.API.STREAM.MSG.GET." + ownRev,
		"$JS.API.STREAM.PURGE." + ownSnap,
		"_R_.>", // replies to requests that came through a service import
	}, read...)
	sub := []string{inbox}
	for _, k := range []Kind{KindLookup, KindReceipts, KindSnapshotRequest} {
		sub = append(sub, toProvince(g.fed, k, p))
	}
	return perms{pub: pub, sub: sub}
}

// render writes the configuration text.
func (g *generator) render(users map[string][]userEntry) []byte {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# nats-server configuration for HCFed federation %q, written by `hcnode nats-config`.\n", g.fed)
	w("# One NATS account per province and one for the federation operators (accounts mode):\n")
	w("# see docs/design-changes.md, \"Province isolation on NATS\". Only public NKeys are here;\n")
	w("# the seeds were written beside this file, one per user. Regenerate rather than edit.\n\n")
	if g.o.ServerName != "" {
		w("server_name: %s\n", strconv.Quote(g.o.ServerName))
	}
	if g.o.Host != "" {
		w("host: %s\n", strconv.Quote(g.o.Host))
	}
	if g.o.Port != 0 {
		w("port: %d\n", g.o.Port)
	}
	w("max_payload: 1MB\n\n")
	var total int64
	for _, owner := range g.owners() {
		total += g.accountFileBytes(owner)
	}
	w("jetstream {\n")
	if g.o.StoreDir != "" {
		w("  store_dir: %s\n", strconv.Quote(g.o.StoreDir))
	}
	w("  max_memory_store: %d\n  max_file_store: %d\n}\n\n", int64(len(g.owners()))*accountMaxMemBytes, total)
	if g.o.ClusterBlock != "" {
		w("%s\n\n", strings.TrimSpace(g.o.ClusterBlock))
	}
	w("accounts {\n")
	for _, owner := range g.owners() {
		g.renderAccount(&b, owner, users[owner])
	}
	w("}\n")
	return []byte(b.String())
}

func (g *generator) maxConsumers() int {
	return orDefault(g.o.MaxConsumers, DefaultAccountMaxConsumers)
}

// accountFileBytes is owner's file quota: its own assets and its
// aggregates at their configured maximum, times the replicas.
func (g *generator) accountFileBytes(owner string) int64 {
	n := int64(len(g.members))
	own := int64(ownBucketMaxBytes)
	agg := (n + 1) * ownBucketMaxBytes
	if owner != operatorTag {
		own += ownStreamMaxBytes + ownSnapshotMaxBytes
		agg += n * ownStreamMaxBytes
	}
	return (own+agg)*int64(orDefault(g.o.Replicas, 1)) + g.o.ExtraFileBytes
}

func (g *generator) renderAccount(b *strings.Builder, owner string, users []userEntry) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	streams := 5
	if owner == operatorTag {
		streams = 2
	}
	w("  %s {\n", accountName(owner))
	w("    jetstream {\n      max_file: %d\n      max_mem: %d\n      max_streams: %d\n      max_consumers: %d\n    }\n",
		g.accountFileBytes(owner), accountMaxMemBytes, streams, g.maxConsumers())
	w("    users: [\n")
	for _, u := range users {
		w("      # %s\n      {\n        nkey: %s\n        permissions: {\n", u.role, u.pub)
		w("          publish: { allow: %s }\n", list(u.perms.pub, 12))
		w("          subscribe: { allow: %s }\n", list(u.perms.sub, 12))
		w("        }\n      }\n")
	}
	w("    ]\n")
	w("    exports: [\n")
	for _, e := range g.exports(owner) {
		w("      %s\n", e)
	}
	w("    ]\n    imports: [\n")
	for _, i := range g.imports(owner) {
		w("      %s\n", i)
	}
	w("    ]\n  }\n")
}

// readers are the accounts that source from owner's account.
func (g *generator) readers(owner string) []string {
	var out []string
	for _, o := range g.owners() {
		if o != owner {
			out = append(out, o)
		}
	}
	return out
}

// peers are the provinces other than owner.
func (g *generator) peers(owner string) []string {
	var out []string
	for _, m := range g.members {
		if m != owner {
			out = append(out, m)
		}
	}
	return out
}

// sourced are owner's streams that other accounts source from.
func (g *generator) sourced(owner string) []string {
	s := []string{"KV_" + ownBucketName(g.fed, owner)}
	if owner != operatorTag {
		s = append(s, ownStreamName(g.fed, owner))
	}
	return s
}

// readersOf is who sources stream s of owner: every other account for
// the state bucket, the other provinces for the revocation stream.
func (g *generator) readersOf(owner, s string) []string {
	if strings.HasPrefix(s, "KV_") {
		return g.readers(owner)
	}
	return g.peers(owner)
}

func (g *generator) exports(owner string) []string {
	var out []string
	svc := func(subj string, to []string) {
		out = append(out, fmt.Sprintf("{ service: %s, accounts: %s }", strconv.Quote(subj), accountList(to)))
	}
	for _, s := range g.sourced(owner) {
		r := g.readersOf(owner, s)
		svc("$JS.API.CONSUMER.CREATE."+s, r)
		svc("$JS.API.CONSUMER.CREATE."+s+".>", r)
		svc("$JS.FC."+s+".>", r)
	}
	for _, to := range g.readers(owner) {
		out = append(out, fmt.Sprintf("{ stream: %s, accounts: [%s] }", strconv.Quote(deliverPrefix(owner, to)+".>"), accountName(to)))
	}
	if owner == operatorTag {
		return out
	}
	peers := g.peers(owner)
	if len(peers) == 0 {
		return out
	}
	snap := "OBJ_" + ownSnapshotBucketName(g.fed, owner)
	svc("$JS.API.STREAM.INFO."+snap, peers)
	svc("$JS.API.DIRECT.GET."+snap, peers)
	svc("$JS.API.DIRECT.GET."+snap+".>", peers)
	for _, k := range []Kind{KindLookup, KindReceipts, KindSnapshotRequest} {
		svc(toProvince(g.fed, k, owner), peers)
	}
	return out
}

func (g *generator) imports(acct string) []string {
	var out []string
	svc := func(from, subj, to string) {
		s := fmt.Sprintf("{ service: { account: %s, subject: %s }", accountName(from), strconv.Quote(subj))
		if to != "" && to != subj {
			s += ", to: " + strconv.Quote(to)
		}
		out = append(out, s+" }")
	}
	for _, owner := range g.readers(acct) {
		for _, s := range g.sourced(owner) {
			if !contains(g.readersOf(owner, s), acct) {
				continue
			}
			svc(owner, "$JS.API.CONSUMER.CREATE."+s, apiPrefix(owner)+".CONSUMER.CREATE."+s)
			svc(owner, "$JS.API.CONSUMER.CREATE."+s+".>", apiPrefix(owner)+".CONSUMER.CREATE."+s+".>")
			svc(owner, "$JS.FC."+s+".>", "")
		}
		out = append(out, fmt.Sprintf("{ stream: { account: %s, subject: %s } }", accountName(owner), strconv.Quote(deliverPrefix(owner, acct)+".>")))
		if owner == operatorTag || acct == operatorTag {
			continue
		}
		snap := "OBJ_" + ownSnapshotBucketName(g.fed, owner)
		svc(owner, "$JS.API.STREAM.INFO."+snap, apiPrefix(owner)+".STREAM.INFO."+snap)
		svc(owner, "$JS.API.DIRECT.GET."+snap, apiPrefix(owner)+".DIRECT.GET."+snap)
		svc(owner, "$JS.API.DIRECT.GET."+snap+".>", apiPrefix(owner)+".DIRECT.GET."+snap+".>")
		// Only the subjects that name this account as the asker: it
		// can neither ask as another province nor see their requests.
		for _, k := range []Kind{KindLookup, KindReceipts, KindSnapshotRequest} {
			s, _ := Topic{Kind: k, Province: acct, Peer: owner}.Subject(g.fed)
			svc(owner, s, "")
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func accountList(owners []string) string {
	names := make([]string, len(owners))
	for i, o := range owners {
		names[i] = accountName(o)
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// list renders subjects as a quoted, indented configuration list.
func list(subjects []string, indent int) string {
	pad := strings.Repeat(" ", indent+2)
	var b strings.Builder
	b.WriteString("[\n")
	for _, s := range subjects {
		b.WriteString(pad + strconv.Quote(s) + "\n")
	}
	b.WriteString(strings.Repeat(" ", indent) + "]")
	return b.String()
}
