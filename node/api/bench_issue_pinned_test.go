//go:build linux

package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hcfed/hcfed/node/config"
)

// pinnedIssuerEnv, set in the environment of this test binary, makes
// TestPinnedIssuerProcess the node's side of BenchmarkHTTPIssuePinned:
// its value is how many residents to enrol.
const pinnedIssuerEnv = "HCFED_PINNED_ISSUER"

// BenchmarkHTTPIssuePinned is BenchmarkHTTPIssueVsBaseline with the load
// generator kept off the node's core: the node runs in a process of its
// own (this test binary again, as TestPinnedIssuerProcess) on CPU 0, and
// this process, which only sends requests, on the other CPUs. The node's
// process runs with GOMAXPROCS=1, what Go gives a process on one CPU
// ("procs=1"), and with GOMAXPROCS=2 on that one CPU ("procs=2"), so
// that a goroutine may run while another's system call (the writer's
// fsync) holds a thread. The baseline (sign a code and record it with the
// store's group-committed InsertCode, from as many concurrent callers)
// runs in the node's process on the same core, so both sides of each
// ratio have one core and nothing else on it:
//
//   - "ratio": HTTP codes/s over baseline codes/s (target ≥ 0.6);
//   - "cpu-ratio": the baseline's CPU a code over the node process's CPU
//     a code under HTTP issuance — what the issue calls the server's CPU
//     a code, read from the node's own rusage, with no client in it.
//
// Every resident is in the issuance cache, as when residents refresh
// their codes. The two phases take turns, issueBenchRound codes at a
// time, after one untimed warm-up round each. Needs Linux, two CPUs and
// taskset (util-linux); skipped otherwise.
//
//	go test -run '^$' -bench HTTPIssuePinned -benchtime 2000x ./node/api
func BenchmarkHTTPIssuePinned(b *testing.B) {
	for _, procs := range []int{1, 2} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) { benchIssuePinned(b, procs) })
	}
}

// benchIssuePinned is BenchmarkHTTPIssuePinned with the node's process at
// GOMAXPROCS=procs.
func benchIssuePinned(b *testing.B, procs int) {
	if runtime.NumCPU() < 2 {
		b.Skip("needs two CPUs: one for the node, one for the load generator")
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		b.Skip("needs taskset (util-linux) to pin the node to one CPU")
	}
	subjects := max(64, (2*(b.N+issueBenchRound)+config.DefaultMaxLiveCodes-1)/config.DefaultMaxLiveCodes)
	srv := startPinnedIssuer(b, taskset, procs, subjects)
	pinProcess(b, 1, runtime.NumCPU()-1)

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024,
		IdleConnTimeout: time.Minute, ResponseHeaderTimeout: 10 * time.Second}}
	b.Cleanup(client.CloseIdleConnections)
	var next atomic.Uint64
	httpIssue := func() error {
		return postIssue(client, srv.URL+"/v1/subjects/"+srv.IDs[next.Add(1)%uint64(len(srv.IDs))]+"/codes", srv.Token)
	}
	callers := issueBenchCallersPerProc * runtime.NumCPU()
	fns := make([]func() error, callers)
	for i := range fns {
		fns[i] = httpIssue
	}
	// issueHTTP is one round of HTTP issuance: its wall time here, and the
	// node process's CPU and group commits over it.
	issueHTTP := func(ops int) (wall, cpu time.Duration, commits int64) {
		cpu0, commits0 := srv.usage(b)
		wall, _ = issueRound(b, fns, ops)
		cpu1, commits1 := srv.usage(b)
		return wall, cpu1 - cpu0, commits1 - commits0
	}
	srv.baseline(b, issueBenchRound, callers)
	issueHTTP(issueBenchRound)

	var hw, hc, bw, bc time.Duration
	var hcommits, bcommits int64
	b.ResetTimer()
	for done := 0; done < b.N; done += issueBenchRound {
		ops := min(issueBenchRound, b.N-done)
		w, c, k := srv.baseline(b, ops, callers)
		bw, bc, bcommits = bw+w, bc+c, bcommits+k
		w, c, k = issueHTTP(ops)
		hw, hc, hcommits = hw+w, hc+c, hcommits+k
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(n/hw.Seconds(), "http-codes/s")
	b.ReportMetric(n/bw.Seconds(), "base-codes/s")
	b.ReportMetric(bw.Seconds()/hw.Seconds(), "ratio")
	b.ReportMetric(float64(hc.Microseconds())/n, "node-cpu-us/op")
	b.ReportMetric(float64(bc.Microseconds())/n, "base-cpu-us/op")
	b.ReportMetric(bc.Seconds()/hc.Seconds(), "cpu-ratio")
	b.ReportMetric(n/float64(max(hcommits, 1)), "http-codes/commit")
	b.ReportMetric(n/float64(max(bcommits, 1)), "base-codes/commit")
}

// pinnedIssuer is the node's process of BenchmarkHTTPIssuePinned, asked
// over its standard input and output.
type pinnedIssuer struct {
	URL   string   `json:"url"`
	Token string   `json:"token"`
	IDs   []string `json:"ids"`

	in  io.Writer
	out *bufio.Scanner
}

// startPinnedIssuer starts this test binary as TestPinnedIssuerProcess on
// CPU 0 with GOMAXPROCS=procs, enrolling subjects residents, and waits
// until it has said where its node listens.
func startPinnedIssuer(b *testing.B, taskset string, procs, subjects int) *pinnedIssuer {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(taskset, "-c", "0", exe, "-test.run", "^TestPinnedIssuerProcess$", "-test.count", "1")
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs), pinnedIssuerEnv+"="+strconv.Itoa(subjects))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close() // the node's process stops at the end of its input
		if err := cmd.Wait(); err != nil {
			b.Errorf("node process: %v", err)
		}
	})
	p := &pinnedIssuer{in: in, out: bufio.NewScanner(out)}
	p.out.Buffer(nil, 16<<20)
	if err := json.Unmarshal([]byte(p.answer(b)), p); err != nil {
		b.Fatalf("node process: %v", err)
	}
	return p
}

// answer reads the node process's next answer, skipping whatever else
// the test binary prints.
func (p *pinnedIssuer) answer(b *testing.B) string {
	b.Helper()
	for p.out.Scan() {
		if a, ok := strings.CutPrefix(p.out.Text(), "pinned-issuer: "); ok {
			return a
		}
	}
	b.Fatalf("node process stopped: %v", p.out.Err())
	return ""
}

// ask sends one request line and reads the durations answered.
func (p *pinnedIssuer) ask(b *testing.B, format string, args ...any) []time.Duration {
	b.Helper()
	if _, err := fmt.Fprintf(p.in, format+"\n", args...); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for _, f := range strings.Fields(p.answer(b)) {
		ns, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatalf("node process: %q", f)
		}
		ds = append(ds, time.Duration(ns))
	}
	return ds
}

// usage is the node process's CPU time so far, and how many group
// commits its store has made.
func (p *pinnedIssuer) usage(b *testing.B) (cpu time.Duration, commits int64) {
	ds := p.ask(b, "cpu")
	return ds[0], int64(ds[1])
}

// baseline has the node process issue ops codes the baseline's way from
// callers goroutines, and returns the wall and CPU time they took there
// and the group commits they made.
func (p *pinnedIssuer) baseline(b *testing.B, ops, callers int) (wall, cpu time.Duration, commits int64) {
	ds := p.ask(b, "baseline %d %d", ops, callers)
	return ds[0], ds[1], int64(ds[2])
}

// TestPinnedIssuerProcess is the node's process of
// BenchmarkHTTPIssuePinned, and is skipped unless that benchmark started
// it. It starts a node, says on its output where it listens, then answers
// the lines of its input: "cpu" with its CPU time, "baseline OPS CALLERS"
// with the wall and CPU time of issuing OPS codes the baseline's way. It
// stops at the end of its input.
func TestPinnedIssuerProcess(t *testing.T) {
	subjects, err := strconv.Atoi(os.Getenv(pinnedIssuerEnv))
	if err != nil {
		t.Skip("the node's process of BenchmarkHTTPIssuePinned, started by it")
	}
	d, cfg, opToken, ids := issueBenchNode(t, subjects)
	ctx := context.Background()
	d.DB.SetIssueCacheEntries(cfg.Codes.IssueCache)
	for _, id := range ids {
		if _, err := d.DB.SubjectForIssue(ctx, id, time.Now(), 0); err != nil {
			t.Fatal(err)
		}
	}
	ci := baselineIssuer(t)
	var next atomic.Uint64
	baseline := func() error { return baselineIssue(ctx, ci, d, ids[next.Add(1)%uint64(len(ids))]) }
	hello, err := json.Marshal(pinnedIssuer{URL: d.URL, Token: opToken, IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("pinned-issuer: %s\n", hello)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var ops, callers int
		switch line := in.Text(); {
		case line == "cpu":
			fmt.Printf("pinned-issuer: %d %d\n", cpuTime(t), d.DB.GroupCommits())
		case func() bool { _, err := fmt.Sscanf(line, "baseline %d %d", &ops, &callers); return err == nil }():
			fns := make([]func() error, callers)
			for i := range fns {
				fns[i] = baseline
			}
			c0 := d.DB.GroupCommits()
			wall, cpu := issueRound(t, fns, ops)
			fmt.Printf("pinned-issuer: %d %d %d\n", wall, cpu, d.DB.GroupCommits()-c0)
		default:
			t.Fatalf("unknown request %q", line)
		}
	}
}

// pinProcess keeps every thread of this process, and so every thread it
// makes later, on the CPUs first to last, and sets GOMAXPROCS to their
// number, until the benchmark ends.
func pinProcess(b *testing.B, first, last int) {
	b.Helper()
	var set unix.CPUSet
	for c := first; c <= last; c++ {
		set.Set(c)
	}
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { setAffinity(b, &old) })
	setAffinity(b, &set)
	b.Cleanup(func(procs int) func() { return func() { runtime.GOMAXPROCS(procs) } }(runtime.GOMAXPROCS(last - first + 1)))
}

// setAffinity sets the CPU affinity of every thread of this process,
// again while new threads appear (a thread made from one not yet set
// would keep the old CPUs).
func setAffinity(b *testing.B, set *unix.CPUSet) {
	b.Helper()
	done := map[int]bool{}
	for {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			b.Fatal(err)
		}
		fresh := 0
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || done[tid] {
				continue
			}
			// A thread may end between the listing and here.
			if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
				b.Fatal(err)
			}
			done[tid], fresh = true, fresh+1
		}
		if fresh == 0 {
			return
		}
	}
}
