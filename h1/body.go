package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// ReadError is an error met reading the message being relayed, as opposed
// to writing it on: the sender's fault (a body cut short, malformed chunks,
// a read deadline passed). A request body's ReadError is the client's; a
// response body's is the instance's.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "reading the body: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

func readErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &ReadError{Err: err}
}

// Relay copies n bytes (n < 0: until src ends) from src to dst without an
// intermediate buffer. Before it would wait on src it flushes dst: a body
// already in hand goes out with its head in one write, and a streamed one
// reaches the client as the instance writes it. Errors reading src are a
// *ReadError.
func Relay(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	for n != 0 {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return err
			}
		}
		if _, err := src.Peek(1); err != nil {
			if err == io.EOF && n < 0 {
				return nil
			}
			return readErr(err)
		}
		k := src.Buffered()
		if n >= 0 && int64(k) > n {
			k = int(n)
		}
		chunk, _ := src.Peek(k)
		if _, err := dst.Write(chunk); err != nil {
			return err
		}
		src.Discard(k)
		if n > 0 {
			n -= int64(k)
		}
	}
	return nil
}

// RelayChunked copies a chunked body from src to dst, checking its framing
// (see ChunkedReader) and writing it in canonical form: the same chunks,
// their sizes in plain hex, without extensions, then the trailer fields.
// The next hop cannot frame it otherwise than we did. Like Relay, it
// flushes before waiting on src.
func RelayChunked(dst *bufio.Writer, src *bufio.Reader) error {
	var c ChunkedReader
	c.Reset(src)
	return c.RelayTo(dst)
}

// RelayTo is RelayChunked for the rest of the body c is reading.
func (c *ChunkedReader) RelayTo(dst *bufio.Writer) error {
	for {
		if c.src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return err
			}
		}
		frame, data, err := c.Next()
		if err != nil && err != io.EOF {
			return err
		}
		dst.Write(frame)
		if _, werr := dst.Write(data); werr != nil || err == io.EOF {
			return werr
		}
	}
}

// maxChunkLine bounds a chunk-size line or a trailer field, as net/http's
// does.
const maxChunkLine = 4096

// maxTrailer bounds the trailer section of a chunked body.
const maxTrailer = 8 << 10

// ChunkedReader reads a chunked body and gives it back in canonical form.
// It checks the framing at least as strictly as net/http does: CRLF line
// ends, a chunk size of hex digits only (15 at most), extensions after ';'
// (discarded), the CRLF after each chunk's data, at most 16 KiB of framing
// beyond what the data justifies, and trailer fields that are well formed
// and never frame or route (no Content-Length, Transfer-Encoding or Host).
// Every error is a *ReadError; a framing error wraps ErrMalformed.
type ChunkedReader struct {
	src       *bufio.Reader
	left      int64 // data bytes of the current chunk not yet returned
	inChunk   bool  // the current chunk's data ends with a CRLF still to read
	inTrailer bool  // the last chunk was read: trailer fields follow
	done      bool
	excess    int64    // framing bytes beyond what the data justifies
	trailer   int      // bytes of trailer fields so far
	frame     [24]byte // storage for the framing Next returns
}

// Reset prepares c to read a new body from src.
func (c *ChunkedReader) Reset(src *bufio.Reader) {
	*c = ChunkedReader{src: src}
}

var errChunked = &ReadError{Err: ErrMalformed}

// Next returns the next piece of the body in canonical form: frame, the
// framing to send first (the CRLF ending a chunk's data, the line starting
// the next chunk, the last chunk and trailer fields), then data, peeked
// from src. Both are valid until Next is called again or src is read;
// either may be empty. Next never waits on src while it holds something to
// return, so a caller that flushes before calling it when src holds
// nothing never sits on bytes it could have sent. After the blank line
// that ends the body, err is io.EOF (with the last frame).
func (c *ChunkedReader) Next() (frame, data []byte, err error) {
	if c.done {
		return nil, nil, io.EOF
	}
	f := c.frame[:0]
	for {
		switch {
		case c.left > 0:
			if c.src.Buffered() == 0 {
				if len(f) > 0 {
					return f, nil, nil
				}
				if _, err := c.src.Peek(1); err != nil {
					return nil, nil, readErr(err)
				}
			}
			k := int(min(int64(c.src.Buffered()), c.left))
			data, _ = c.src.Peek(k)
			c.src.Discard(k)
			c.left -= int64(k)
			return f, data, nil
		case c.inChunk:
			if len(f) > 0 && c.src.Buffered() < 2 {
				return f, nil, nil
			}
			crlf, err := c.src.Peek(2)
			if err != nil {
				return nil, nil, readErr(err)
			}
			if crlf[0] != '\r' || crlf[1] != '\n' {
				return nil, nil, errChunked
			}
			c.src.Discard(2)
			c.inChunk = false
			f = append(f, "\r\n"...)
		default:
			if len(f) > 0 && !c.lineBuffered() {
				return f, nil, nil
			}
			line, err := c.line()
			if err != nil {
				return nil, nil, err
			}
			if c.inTrailer {
				if len(line) == 0 {
					c.done = true
					return append(f, "\r\n"...), nil, io.EOF
				}
				fld, err := parseField(line)
				if c.trailer += len(line); err != nil || framing(fld.name) || c.trailer > maxTrailer {
					return nil, nil, errChunked
				}
				f = append(append(f, line...), "\r\n"...)
				continue
			}
			size, ok := ParseChunkSize(line)
			if !ok {
				return nil, nil, errChunked
			}
			// net/http's guard against bodies that are mostly framing.
			c.excess += int64(len(line)) + 2 - 16 - 2*size
			if c.excess = max(c.excess, 0); c.excess > 16<<10 {
				return nil, nil, errChunked
			}
			if size == 0 {
				c.inTrailer = true
				f = append(f, "0\r\n"...)
				continue
			}
			c.left, c.inChunk = size, true
			f = AppendChunkSize(f, size)
		}
	}
}

// lineBuffered tells whether src holds a whole line.
func (c *ChunkedReader) lineBuffered() bool {
	b, _ := c.src.Peek(c.src.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

// line reads one line of chunk framing and returns it without its CRLF.
func (c *ChunkedReader) line() ([]byte, error) {
	line, err := c.src.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull || len(line) > maxChunkLine:
		return nil, errChunked
	case err != nil:
		return nil, readErr(err)
	}
	line = line[:len(line)-1]
	if len(line) == 0 || line[len(line)-1] != '\r' || bytes.IndexByte(line[:len(line)-1], '\r') >= 0 {
		return nil, errChunked // a bare LF, or a CR inside the line
	}
	return line[:len(line)-1], nil
}

// AppendChunkSize appends the line that starts a chunk of n bytes.
func AppendChunkSize(dst []byte, n int64) []byte {
	dst = strconv.AppendInt(dst, n, 16)
	return append(dst, "\r\n"...)
}

// ParseChunkSize parses a chunk-size line (its CRLF cut) as net/http
// does, or more strictly: trailing whitespace trimmed, extensions cut at
// ';', then hex digits only.
func ParseChunkSize(line []byte) (int64, bool) {
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// IsReadError tells an error met reading the relayed message.
func IsReadError(err error) bool {
	var re *ReadError
	return errors.As(err, &re)
}
