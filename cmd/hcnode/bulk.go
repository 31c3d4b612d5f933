package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
)

func newStatusesCmd() *cobra.Command {
	var retryPath string
	cmd := &cobra.Command{
		Use:   "statuses FILE|-",
		Short: "Set many residents' statuses from an NDJSON file, in committed batches",
		Long: `statuses sends status changes to the running node, one JSON object a line:

  {"subject":"s_...","status":"yellow","reason":"district lockdown","ref":"your-id"}

The node commits them in batches with their revocations; a line is
acknowledged only once committed. Progress goes to stderr; every refused
line's result (line number, ref, error code and message) goes to stdout as
NDJSON, and with --retry the refused input lines themselves are written to
that file, ready to be corrected and sent again. A subject that already has
the status is "unchanged", and a line giving a subject named earlier in the
file another status is refused (conflict): sending the same file twice
changes nothing. If
the stream stops early, every line up to the last progress report's
last_line was committed (or refused); send the rest again.

Exit status: 0 when every line was applied or unchanged, 2 when the whole
file was read but some lines were refused, 1 on any other error.`,
		Args: cobra.ExactArgs(1),
	}
	cl := addStatusClientFlags(cmd)
	cl.http = newHTTPClient(0) // a stream of millions of lines takes as long as it takes
	cmd.Flags().StringVar(&retryPath, "retry", "", "write the refused input lines to this file")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		in, err := openInput(cmd, args[0])
		if err != nil {
			return err
		}
		defer in.Close()
		var retry io.Writer
		if retryPath != "" {
			f, err := os.OpenFile(retryPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			bw := bufio.NewWriter(f)
			defer bw.Flush()
			retry = bw
		}
		return sendStatuses(cmd, cl, in, retry)
	}
	return cmd
}

func openInput(cmd *cobra.Command, path string) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(cmd.InOrStdin()), nil
	}
	return os.Open(path)
}

// sentLines keeps the input lines sent but not yet acknowledged, so that
// refused ones can be written out for a retry.
type sentLines struct {
	mu    sync.Mutex
	lines map[int][]byte
}

func (s *sentLines) put(n int, b []byte) {
	s.mu.Lock()
	s.lines[n] = b
	s.mu.Unlock()
}

func (s *sentLines) take(n int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.lines[n]
	delete(s.lines, n)
	return b
}

// forgetUpTo drops lines up to n, which the node has acknowledged.
func (s *sentLines) forgetUpTo(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.lines {
		if k <= n {
			delete(s.lines, k)
		}
	}
}

// bulkSummary is the node's progress and summary count.
type bulkSummary struct {
	Lines, Applied, Unchanged, Refused, Revoked int
	LastLine                                    int    `json:"last_line"`
	FirstSeq                                    uint64 `json:"first_seq"`
	LastSeq                                     uint64 `json:"last_seq"`
}

// String is the summary as statuses prints it.
func (s bulkSummary) String() string {
	return fmt.Sprintf("%s: %d applied, %d unchanged, %d refused; %s revoked",
		count(s.Lines, "line"), s.Applied, s.Unchanged, s.Refused, count(s.Revoked, "code"))
}

func sendStatuses(cmd *cobra.Command, cl *client, in io.Reader, retry io.Writer) error {
	sent := &sentLines{lines: map[int][]byte{}}
	pr, pw := io.Pipe()
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		for n := 1; ; n++ {
			b, err := r.ReadBytes('\n')
			if len(b) > 0 {
				if retry != nil {
					sent.put(n, append([]byte(nil), b...))
				}
				if _, werr := pw.Write(b); werr != nil {
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				pw.CloseWithError(err)
				return
			}
		}
	}()
	var last bulkSummary
	done := false
	err := cl.stream(cmd.Context(), http.MethodPost, "/v1/statuses?report=refused", pr, func(line []byte) error {
		var m struct {
			Line     int             `json:"line"`
			Result   string          `json:"result"`
			Progress *bulkSummary    `json:"progress"`
			Summary  *bulkSummary    `json:"summary"`
			Error    json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(line, &m); err != nil {
			return fmt.Errorf("unreadable answer from the node: %w", err)
		}
		switch {
		case m.Line > 0:
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", strings.TrimSpace(string(line)))
			if b := sent.take(m.Line); retry != nil && b != nil {
				if _, err := retry.Write(withNewline(b)); err != nil {
					return err
				}
			}
		case m.Progress != nil:
			last = *m.Progress
			sent.forgetUpTo(last.LastLine)
			fmt.Fprintf(cmd.ErrOrStderr(), "statuses: %s\n", last)
		case m.Summary != nil:
			last, done = *m.Summary, true
			if last.LastSeq > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "statuses: done: %s (outbox seqs %d..%d)\n", last, last.FirstSeq, last.LastSeq)
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "statuses: done: %s (no code to revoke)\n", last)
			}
		case m.Error != nil:
			var e struct{ Code, Message string }
			_ = json.Unmarshal(m.Error, &e)
			return fmt.Errorf("%s: %s; lines up to %d were committed or refused, send the rest again", e.Code, e.Message, last.LastLine)
		}
		return nil
	})
	pr.Close()
	if err == nil && !done {
		err = fmt.Errorf("the node's answer ended without a summary; lines up to %d were committed or refused, send the rest again", last.LastLine)
	}
	if err == nil && last.Refused > 0 {
		err = exitStatus{code: exitRefused, error: fmt.Errorf("%s refused (results on stdout); correct and send again", count(last.Refused, "line"))}
	}
	return err
}

// exitRefused is statuses' exit status when every line was read and
// committed or refused, and some were refused.
const exitRefused = 2

func withNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b
	}
	return append(b, '\n')
}

// stream sends body to path and calls fn with each line of a 200 answer as
// it arrives; another status is an error, as in do (send). Its client has no
// timeout: the caller's context bounds it.
func (c *client) stream(ctx context.Context, method, path string, body io.Reader, fn func([]byte) error) error {
	resp, err := c.send(ctx, method, path, "application/x-ndjson", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("the node's answer broke off: %w", err)
	}
	return nil
}
