package api

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzReadBulkLine: a bulk body is cut into the same lines as splitting
// it at each newline; a line of at most max bytes (its newline not
// counted) comes whole, and a longer one is reported too long, once,
// without its bytes, and reading goes on with the next line — whether
// the body arrives in one piece, a byte at a time, or with its end told
// along with its last bytes.
func FuzzReadBulkLine(f *testing.F) {
	f.Add([]byte("{\"subject\":\"s-1\",\"status\":\"red\"}\n{}\n"), uint8(0), uint8(0))
	f.Add(bytes.Repeat([]byte("x"), 16), uint8(0), uint8(0))
	f.Add(append(bytes.Repeat([]byte("x"), 16), '\n'), uint8(0), uint8(1))
	f.Add(append(bytes.Repeat([]byte("x"), 17), "\nok\n"...), uint8(0), uint8(0))
	f.Add(bytes.Repeat([]byte("x"), 17), uint8(0), uint8(2))
	f.Add([]byte("\r\n\n"), uint8(3), uint8(2))
	f.Add([]byte(nil), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, extra, mode uint8) {
		max := 16 + int(extra)
		var src io.Reader = bytes.NewReader(body)
		switch mode % 3 {
		case 1:
			src = iotest.OneByteReader(src)
		case 2:
			src = iotest.DataErrReader(src)
		}
		in := newBulkLineReader(src, max)
		want := bytes.Split(body, []byte{'\n'})
		for i, w := range want {
			raw, err := readBulkLine(in)
			last := i == len(want)-1
			if errors.Is(err, io.EOF) != last {
				t.Fatalf("line %d of %d (%q): error %v", i+1, len(want), w, err)
			}
			if long := errors.Is(err, bufio.ErrBufferFull); long != (len(w) > max) {
				t.Fatalf("line %d of %d bytes, at most %d: reported too long = %v", i+1, len(w), max, long)
			}
			if len(w) <= max && !bytes.Equal(raw, w) {
				t.Fatalf("line %d is %q, read %q", i+1, w, raw)
			}
			if len(w) > max && raw != nil {
				t.Fatalf("line %d, too long, came with %d bytes", i+1, len(raw))
			}
		}
	})
}
