package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hcfed/hcfed/node"
)

// bulkStatusPath is the bulk status route; the global body limit does not
// apply to it (limits.bulk_bytes does).
const bulkStatusPath = "/v1/statuses"

// bulkIdle is how long a bulk stream may wait for the client's next batch
// of lines, or for the client to take the results, before it is cut: the
// server's read and write timeouts are pushed out by this much per batch.
const bulkIdle = 60 * time.Second

// bulkLine is a line of the response stream other than a line's result
// (node.BulkResult): a progress count after each batch, the final
// summary, or the error that stopped the stream (lines after the last progress count were not
// committed and may be sent again).
type bulkLine struct {
	Progress *node.BulkSummary `json:"progress,omitempty"`
	Summary  *node.BulkSummary `json:"summary,omitempty"`
	Error    *node.BulkError   `json:"error,omitempty"`
}

// setStatuses is POST /v1/statuses: a body of NDJSON status lines
// (node.StatusLine), applied in batches; the response streams NDJSON
// results, each batch's only after it committed. With ?report=refused
// only refused lines are reported, with the progress and summary.
func (s *Server) setStatuses(c echo.Context) error {
	b, err := s.n.BulkStatus(principal(c))
	if err != nil {
		return err
	}
	limits := s.n.Settings().Limits
	onlyRefused := c.QueryParam("report") == "refused"
	res := c.Response()
	rc := http.NewResponseController(res.Writer)
	// Read the body while writing results (HTTP/1 would otherwise drain
	// it first); unsupported writers (tests, HTTP/2) need nothing.
	_ = rc.EnableFullDuplex()
	extend := func() {
		_ = rc.SetReadDeadline(time.Now().Add(bulkIdle))
		_ = rc.SetWriteDeadline(time.Now().Add(bulkIdle))
	}
	extend()
	body := http.MaxBytesReader(res.Writer, c.Request().Body, limits.BulkBytes)
	in := newBulkLineReader(body, limits.BulkLineBytes)
	out := bufio.NewWriterSize(res, 64<<10)
	enc := json.NewEncoder(out)
	started := false
	seen := false // a line was read: added or refused
	line := 0     // the last line read
	flush := func() error {
		results, err := b.Flush(c.Request().Context())
		if err != nil {
			return err
		}
		if !started {
			res.Header().Set(echo.HeaderContentType, "application/x-ndjson")
			res.WriteHeader(http.StatusOK)
			started = true
		}
		for i := range results {
			if !onlyRefused || results[i].Result == node.BulkRefused {
				_ = enc.Encode(&results[i])
			}
		}
		p := b.Summary
		_ = enc.Encode(bulkLine{Progress: &p})
		if err := out.Flush(); err != nil {
			return errClientGone{err}
		}
		res.Flush()
		extend()
		return nil
	}
	stop := func(err error) error {
		if !started {
			return err // nothing committed yet: a plain error response
		}
		// The error handler does not see this error: log it here.
		s.logStreamError(c, err, b.Summary.LastLine, line)
		_ = enc.Encode(bulkLine{Error: &node.BulkError{Code: node.ErrorCodeOf(err), Message: node.ErrorMessageOf(err)}})
		_ = out.Flush()
		return nil
	}
	for line = 1; ; line++ {
		raw, readErr := readBulkLine(in)
		if readErr != nil && !errors.Is(readErr, io.EOF) && !errors.Is(readErr, bufio.ErrBufferFull) {
			if ferr := flush(); ferr != nil {
				return stop(ferr)
			}
			return stop(bodyError(readErr))
		}
		full := false
		switch {
		case errors.Is(readErr, bufio.ErrBufferFull):
			seen = true
			full = b.Refuse(line, "", node.Errorf(node.ETooLarge, "line longer than %d bytes", limits.BulkLineBytes))
		case len(bytes.TrimSpace(raw)) > 0:
			seen = true
			var l node.StatusLine
			if err := decodeStatusLine(raw, &l); err != nil {
				full = b.Refuse(line, refOf(raw), err)
			} else {
				full = b.Add(line, l)
			}
		}
		if full {
			if err := flush(); err != nil {
				return stop(err)
			}
		}
		if errors.Is(readErr, io.EOF) {
			break
		}
	}
	if !seen {
		// Checked before the last flush, which starts the response: an
		// empty body (or blank lines only) is a client's mistake, a wrong
		// file most likely, not a batch of nothing.
		return node.Errorf(node.EInvalid, "request body is empty; send one JSON status change per line")
	}
	if err := flush(); err != nil {
		return stop(err)
	}
	sum := b.Summary
	_ = enc.Encode(bulkLine{Summary: &sum})
	return out.Flush()
}

// errClientGone is a failed write of the response stream: the client
// went away or stopped reading.
type errClientGone struct{ error }

func (e errClientGone) Unwrap() error { return e.error }

// logStreamError logs the error that stopped a bulk stream after its
// response started (the error handler logs those that come before): an
// internal error at error level, a client that went away at warn level,
// a client's mistake (body too large, unreadable) not at all, since the
// stream tells the client. It names the request, the last committed line
// and the last line read; never a line's content, which names a subject.
func (s *Server) logStreamError(c echo.Context, err error, committed, line int) {
	var gone errClientGone
	switch {
	case errors.As(err, &gone) || errors.Is(err, context.Canceled):
		s.log.Warn("bulk status: client gone, stream stopped", "err", err, "request_id", requestID(c),
			"last_committed_line", committed, "line", line)
	case node.ErrorCodeOf(err) == node.EInternal:
		s.log.Error("bulk status: internal error, stream stopped", "err", err, "route", c.Path(),
			"request_id", requestID(c), "last_committed_line", committed, "line", line)
	}
}

// newBulkLineReader reads r for readBulkLine, whose lines may be max
// bytes long, their newline not counted: the buffer holds the newline too.
func newBulkLineReader(r io.Reader, max int) *bufio.Reader { return bufio.NewReaderSize(r, max+1) }

// readBulkLine reads one line without its newline. A line longer than the
// reader's buffer less one byte (see newBulkLineReader) is skipped to its
// end and reported as bufio.ErrBufferFull; io.EOF comes with the last
// line's bytes, if any.
func readBulkLine(r *bufio.Reader) ([]byte, error) {
	raw, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if errors.Is(err, io.EOF) {
			// The long line was the last one; the caller stops after it.
			return nil, errors.Join(bufio.ErrBufferFull, io.EOF)
		}
		return nil, bufio.ErrBufferFull
	}
	line := bytes.TrimSuffix(raw, []byte{'\n'})
	if len(line) >= r.Size() {
		// A last line that filled the buffer just as the body's end came
		// with it (a reader may give both at once): too long all the same.
		return nil, errors.Join(bufio.ErrBufferFull, err)
	}
	return line, err
}

// refOf returns the ref of a line that failed strict decoding, if it can
// be read at all, so the client can match the refusal to its line.
func refOf(raw []byte) string {
	var l struct {
		Ref string `json:"ref"`
	}
	_ = json.Unmarshal(raw, &l)
	return l.Ref
}

// bodyError maps a failed body read onto a client error.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return node.Errorf(node.ETooLarge, "body longer than limits.bulk_bytes (%d bytes); later lines were not read", mbe.Limit)
	}
	return node.Errorf(node.EInvalid, "reading the body failed; later lines were not read")
}
