package federation

import (
	"fmt"
	"strconv"
	"strings"
)

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
	w("max_payload: 1MB\n")
	w("# what the server holds for a client that does not read before it cuts it (ServerMaxPending)\n")
	w("max_pending: %dMB\n\n", ServerMaxPending>>20)
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
	// The server's connection limit is shared by every account: each has
	// its own share, and a limit on each connection's subscriptions.
	w("    limits {\n      max_connections: %d\n      max_subscriptions: %d\n    }\n",
		orDefault(g.o.MaxConnections, DefaultAccountMaxConnections), orDefault(g.o.MaxSubscriptions, DefaultAccountMaxSubscriptions))
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
