package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// binaries are the programs under test, built once per test run.
type binaries struct {
	hcnode string
	natsd  string // the real nats-server, built from the module cache
}

// built holds the binaries of this test run: the first test that needs
// them builds them, the others (which may run in parallel) reuse them,
// and TestMain removes them at the end. Linking both takes seconds, which
// each of the process tests used to spend again.
var built struct {
	once sync.Once
	dir  string
	bin  binaries
	skip string // why they cannot be built here; the tests skip
	err  error
}

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildBinaries returns hcnode and nats-server, building them on the
// first call into a temporary directory, concurrently. nats-server is
// built from the version go.mod requires, so the test runs the server the
// federation package is tested against.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	built.once.Do(func() { built.bin, built.skip, built.err = build() })
	if built.skip != "" {
		t.Skip(built.skip)
	}
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// build builds the binaries into built.dir.
func build() (binaries, string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return binaries{}, fmt.Sprintf("needs the go command to build hcnode and nats-server: %v", err), nil
	}
	if built.dir, err = os.MkdirTemp("", "hcfed-e2e-bin-"); err != nil {
		return binaries{}, "", err
	}
	b := binaries{hcnode: filepath.Join(built.dir, "hcnode"), natsd: filepath.Join(built.dir, "nats-server")}
	builds := []struct{ out, pkg string }{
		{b.hcnode, "github.com/hcfed/hcfed/cmd/hcnode"},
		{b.natsd, "github.com/nats-io/nats-server/v2"},
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, bd := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := exec.Command(goCmd, "build", "-o", bd.out, bd.pkg).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %v\n%s", bd.pkg, err, out)
			}
		}()
	}
	wg.Wait()
	return b, "", errors.Join(errs...)
}

// baseEnv is the test's environment without HCNODE_* and HCFED_*
// variables, so that a developer's own settings cannot leak into the
// processes under test.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HCNODE_") && !strings.HasPrefix(kv, "HCFED_") {
			env = append(env, kv)
		}
	}
	return env
}

// proc is a running OS process whose stdout and stderr go to one log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string        // path of its output
	done chan struct{} // closed once it has exited
	err  error         // its exit status; read only after done
}

// exited reports whether p has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (no chance to flush or shut down cleanly) and waits
// for the process to be gone. It is safe to call more than once.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// output returns what p has written so far.
func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// procs starts processes and owns them: every one is killed when the test
// that made procs ends, and every log is printed if that test failed.
type procs struct {
	owner *testing.T
	dir   string // log files

	mu   sync.Mutex
	all  []*proc
	logN int
}

func newProcs(t *testing.T, dir string) *procs {
	ps := &procs{owner: t, dir: dir}
	// Registered before any process is started, so it runs after they
	// have all been killed (cleanups run last-in first-out).
	t.Cleanup(ps.dumpIfFailed)
	return ps
}

// start starts bin with args in dir. A failure to start fails t; the
// process is killed when the owning test ends, not when t does, so a
// subtest may start a process that outlives it.
func (ps *procs) start(t *testing.T, name, dir string, env []string, bin string, args ...string) *proc {
	t.Helper()
	ps.mu.Lock()
	ps.logN++
	path := filepath.Join(ps.dir, fmt.Sprintf("%02d-%s.log", ps.logN, name))
	ps.mu.Unlock()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: path, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
	ps.owner.Cleanup(p.kill)
	return p
}

// run runs bin to completion in dir and returns its combined output,
// failing t if it fails.
func (ps *procs) run(t *testing.T, dir string, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dumpIfFailed prints the end of every process's log.
func (ps *procs) dumpIfFailed() {
	if !ps.owner.Failed() {
		return
	}
	const tail = 24 << 10
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.all {
		out := p.output()
		if len(out) > tail {
			out = "...\n" + out[len(out)-tail:]
		}
		status := "still running"
		if p.exited() {
			status = fmt.Sprintf("exit: %v", p.err)
		}
		ps.owner.Logf("==== %s (%s; %s) ====\n%s", p.name, p.log, status, out)
	}
}

// waitFor calls check until it returns nil, at most until timeout has
// passed, and then fails t with check's last error. This, and never a
// fixed sleep, is how the tests wait for the federation to converge.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	testkit.WaitFor(t, timeout, pollEvery, what, check)
}

// pollEvery is how often waitFor checks. Verifying through a peer's
// scanner at this pace stays under the default per-scanner rate limit
// (limits.scanner_rate, 5 per second).
const pollEvery = 250 * time.Millisecond
