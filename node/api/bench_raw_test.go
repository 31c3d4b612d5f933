//go:build unix

package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
)

// BenchmarkHTTPVerifyRawClient is BenchmarkHTTPVerify with a lean load
// generator: each client keeps one loopback TCP connection and writes a
// prepared HTTP/1.1 request, reading the answer with a minimal parser —
// what wrk does. On 2 shared cores the generator's own CPU counts against
// the server; this one takes a fraction of net/http's client. The server
// side is the same real node, TLS aside.
func BenchmarkHTTPVerifyRawClient(b *testing.B) {
	url, scanner, code := benchNode(b)
	addr := strings.TrimPrefix(url, "http://")
	body, err := json.Marshal(map[string]string{"code": code})
	if err != nil {
		b.Fatal(err)
	}
	req := []byte(fmt.Sprintf("POST /v1/verify HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, scanner, len(body), body))

	first := dialRaw(b, addr)
	status, want, err := first.do(req)
	if err != nil {
		b.Fatal(err)
	}
	want = bytes.Clone(want)
	var v node.Verification
	if err := json.Unmarshal(want, &v); err != nil || status != 200 || !v.Valid || v.Reason != "ok" {
		b.Fatalf("verify: HTTP %d %s (%v)", status, want, err)
	}
	first.conn.Close()

	b.SetParallelism(8)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rc := dialRaw(b, addr)
		defer rc.conn.Close()
		for pb.Next() {
			status, got, err := rc.do(req)
			if err != nil || status != 200 || !bytes.Equal(got, want) {
				b.Errorf("verify: HTTP %d %s (%v), want 200 %s", status, got, err, want)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
}

type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	body []byte
}

func dialRaw(b *testing.B, addr string) *rawClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	return &rawClient{conn: c, br: bufio.NewReaderSize(c, 4096)}
}

// do sends req and reads one response: status line, headers up to the
// blank line, then Content-Length bytes of body (valid until the next call).
func (rc *rawClient) do(req []byte) (int, []byte, error) {
	if _, err := rc.conn.Write(req); err != nil {
		return 0, nil, err
	}
	line, err := rc.br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, err
	}
	length := -1
	for {
		h, err := rc.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return 0, nil, err
			}
		}
	}
	if length < 0 {
		return 0, nil, fmt.Errorf("no Content-Length")
	}
	if cap(rc.body) < length {
		rc.body = make([]byte, length)
	}
	rc.body = rc.body[:length]
	_, err = io.ReadFull(rc.br, rc.body)
	return status, rc.body, err
}
