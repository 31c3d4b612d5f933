package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// Storm sizes: STORM_SUBJECTS and STORM_PEERS override them.
const (
	stormSubjects    = 1_000_000 // subjects set yellow, each with one live code
	stormPeers       = 10        // peer nodes besides the home node
	stormRealCodes   = 10        // subjects enrolled and issued a signed code through the node
	stormSampleJTIs  = 1000      // seeded codes checked at each peer
	stormWaitTimeout = 15 * time.Minute
)

// BenchmarkRevocationStorm is issue 12's outbreak: STORM_SUBJECTS
// (default 1,000,000) subjects of the home province, each with one live
// code and seeded straight into its database, are set yellow in one
// POST /v1/statuses stream, with STORM_PEERS (default 10) peer nodes in
// the same process on one embedded NATS server. It reports the seconds
// until the home node has committed every line (home-s), until every peer
// holds every revocation (peers-s: its revoked-code count reaches the
// storm's size, then a sample of seeded codes and every signed code is
// checked as refused), and until every peer has also persisted them
// (persisted-s); the peak RSS of the process (VmHWM); the heap held per
// revocation, after GC, by the whole process divided over the nodes that
// hold the set (heap-B/rev, the home node included) and freed by stopping
// one peer (peer-B/rev); and a peer's SQLite file growth per revocation
// after a WAL checkpoint (disk-B/rev). Targets: all within 60 s on 2
// cores, ≤ 64 B a revocation in memory. Run it alone (scripts/bench-storm):
//
//	STORM_SUBJECTS=100000 go test -run '^$' -bench RevocationStorm -benchtime 1x -timeout 30m ./node/daemon
func BenchmarkRevocationStorm(b *testing.B) {
	n, peers := envInt(b, "STORM_SUBJECTS", stormSubjects), envInt(b, "STORM_PEERS", stormPeers)
	if n < stormRealCodes+1 || peers < 1 || peers+1 > len(provinces(34)) {
		b.Fatalf("STORM_SUBJECTS=%d, STORM_PEERS=%d: out of range", n, peers)
	}
	for i := 0; i < b.N; i++ {
		runStorm(b, n, peers)
	}
}

func runStorm(b *testing.B, n, peers int) {
	ctx := context.Background()
	b.StopTimer()
	c, err := daemon.StartCluster(ctx, daemon.ClusterConfig{Dir: b.TempDir(), Provinces: provinces(peers + 1),
		Configure: func(cfg *config.Config) { cfg.Privacy.Collect = []string{"name", "id_number"} }})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s := &storm{b: b, c: c, n: n}
	s.enrolRealCodes(ctx)
	s.seed(ctx)
	for _, d := range c.Nodes {
		if got := d.Node.State().RevokedLen(); got != 0 {
			b.Fatalf("%s holds %d revoked codes before the storm", d.Node.Province(), got)
		}
	}
	heap0, disk0 := heapAfterGC(), s.peerDiskBytes()

	b.StartTimer()
	cpu0, start := cpuTime(b), time.Now()
	applied := make(chan time.Duration, 1)
	go func() { applied <- s.waitPeersApplied(start) }()
	home := s.sendBulk(ctx)
	peersAt := <-applied
	persisted := s.waitPeersPersisted(start)
	b.StopTimer()
	cpu := cpuTime(b) - cpu0

	s.checkRefused()
	heap1, disk1 := heapAfterGC(), s.peerDiskBytes()
	if err := c.Stop(1); err != nil {
		b.Fatal(err)
	}
	heap2 := heapAfterGC()
	rev := float64(n)
	b.ReportMetric(home.Seconds(), "home-s")
	b.ReportMetric(rev/home.Seconds(), "lines/s")
	b.ReportMetric(peersAt.Seconds(), "peers-s")
	b.ReportMetric(persisted.Seconds(), "persisted-s")
	b.ReportMetric(cpu.Seconds(), "cpu-s")
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "rss-MB")
	b.ReportMetric(float64(int64(heap1)-int64(heap0))/(rev*float64(peers+1)), "heap-B/rev")
	b.ReportMetric(float64(int64(heap1)-int64(heap2))/rev, "peer-B/rev")
	b.ReportMetric(float64(disk1-disk0)/(rev*float64(peers)), "disk-B/rev")
	b.ReportMetric(float64(n), "subjects")
	b.ReportMetric(float64(peers), "peers")
	b.ReportMetric(0, "ns/op")
}

// storm is one run of BenchmarkRevocationStorm.
type storm struct {
	b     *testing.B
	c     *daemon.Cluster
	n     int      // subjects in all
	ids   []string // the enrolled subjects, sent after the seeded ones
	codes []string // their signed codes
}

// enrolRealCodes enrols stormRealCodes residents through the home node
// and issues each a signed code, then waits until every peer accepts them.
func (s *storm) enrolRealCodes(ctx context.Context) {
	home := s.c.Nodes[0].Node
	op := node.Principal{Role: node.RoleOperator}
	for i := range stormRealCodes {
		sub, err := home.Enrol(ctx, op, node.Enrolment{Name: "张三", IDNumber: idNumber(i),
			Consent: node.ConsentInput{NoticeVersion: config.NoticeVersion, Accepted: true}})
		if err != nil {
			s.b.Fatal(err)
		}
		code, err := home.IssueCode(ctx, op, sub.ID, false)
		if err != nil {
			s.b.Fatal(err)
		}
		s.ids, s.codes = append(s.ids, sub.ID), append(s.codes, code.Code)
	}
	s.waitEach("accept the signed codes", func(st *trust.State) error {
		for _, code := range s.codes {
			if r := trust.Verify(code, st.Snapshot(), st, time.Now()); !r.Valid() {
				return fmt.Errorf("a code verifies as %s", r.Reason)
			}
		}
		return nil
	})
}

// sendBulk streams one status line per subject to POST /v1/statuses and
// returns the time from the start of the request to the summary line,
// which the home node writes once its last batch has committed.
func (s *storm) sendBulk(ctx context.Context) time.Duration {
	home := s.c.Nodes[0]
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		for i := range s.n - len(s.ids) {
			fmt.Fprintf(w, `{"subject":"%s","status":"yellow"}`+"\n", stormSubjectID(i))
		}
		for _, id := range s.ids {
			fmt.Fprintf(w, `{"subject":%q,"status":"yellow"}`+"\n", id)
		}
		pw.CloseWithError(w.Flush())
	}()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, home.URL+"/v1/statuses?report=refused", pr)
	if err != nil {
		s.b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.c.Tokens[0])
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l struct {
			Summary *node.BulkSummary `json:"summary"`
			Result  string            `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Result != "" {
			s.b.Fatalf("bulk: HTTP %d: %s (%v)", resp.StatusCode, sc.Text(), err)
		}
		if l.Summary != nil {
			if l.Summary.Applied != s.n || l.Summary.Revoked != s.n {
				s.b.Fatalf("bulk summary %+v, want %d applied and revoked", *l.Summary, s.n)
			}
			return time.Since(start)
		}
	}
	s.b.Fatalf("bulk: HTTP %d, stream ended without a summary (%v)", resp.StatusCode, sc.Err())
	return 0
}

// waitPeersApplied waits until every peer holds n revoked codes and
// returns the time since start when the last one did.
func (s *storm) waitPeersApplied(start time.Time) time.Duration {
	s.waitEach("hold every revocation", func(st *trust.State) error {
		if got := st.RevokedLen(); got < s.n {
			return fmt.Errorf("%d of %d revoked codes held", got, s.n)
		}
		return nil
	})
	return time.Since(start)
}

// waitPeersPersisted waits until no peer has statements left to write to
// its cache and returns the time since start.
func (s *storm) waitPeersPersisted(start time.Time) time.Duration {
	for _, d := range s.c.Nodes[1:] {
		err := poll(stormWaitTimeout, 50*time.Millisecond, func() error {
			if v, err := scrapeMetric(d, "hcfed_federation_cache_backlog"); err != nil || v != 0 {
				return fmt.Errorf("%s: cache backlog %v (%v)", d.Node.Province(), v, err)
			}
			return nil
		})
		if err != nil {
			s.b.Fatal(err)
		}
	}
	return time.Since(start)
}

// checkRefused checks, at every peer, that every signed code verifies as
// revoked and that stormSampleJTIs random seeded codes are revoked.
func (s *storm) checkRefused() {
	province := s.c.Nodes[0].Node.Province()
	for _, d := range s.c.Nodes[1:] {
		st := d.Node.State()
		for _, code := range s.codes {
			if r := trust.Verify(code, st.Snapshot(), st, time.Now()); r.Reason != trust.ReasonRevoked {
				s.b.Fatalf("%s: a signed code verifies as %s after the storm", d.Node.Province(), r.Reason)
			}
		}
		for range stormSampleJTIs {
			if i := rand.IntN(s.n - len(s.ids)); !st.Revoked(province, stormJTI(i)) {
				s.b.Fatalf("%s: seeded code %d is not revoked", d.Node.Province(), i)
			}
		}
	}
}

// waitEach waits until cond holds at every peer, polling each peer every
// 20 ms (cheap next to the work measured).
func (s *storm) waitEach(what string, cond func(*trust.State) error) {
	for _, d := range s.c.Nodes[1:] {
		st := d.Node.State()
		if err := poll(stormWaitTimeout, 20*time.Millisecond, func() error { return cond(st) }); err != nil {
			s.b.Fatalf("%s never came to %s: %v", d.Node.Province(), what, err)
		}
	}
}

// envInt reads a positive integer from the environment, or def.
func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// heapAfterGC is the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
