package h1

import (
	"bufio"
	"bytes"
	"io"
)

// Relay copies n bytes (n < 0: until src ends) from src to dst without an
// intermediate buffer. Before it would wait on src it flushes dst: a body
// already in hand goes out with its head in one write, and a streamed one
// reaches the client as the instance writes it.
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
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
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

// maxChunkLine bounds a chunk-size line or a trailer field.
const maxChunkLine = 4096

// RelayChunked copies a chunked body from src to dst as it is, chunk
// extensions and trailers included, checking its framing so that both
// connections stay in step for the next message. Like Relay, it flushes
// before waiting on src.
func RelayChunked(dst *bufio.Writer, src *bufio.Reader) error {
	for {
		line, err := chunkLine(dst, src)
		if err != nil {
			return err
		}
		size, err := chunkSize(line)
		if err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if err := Relay(dst, src, size); err != nil {
			return err
		}
		crlf, err := chunkLine(dst, src)
		if err != nil {
			return err
		}
		if len(crlf) != 0 {
			return ErrMalformed
		}
	}
	// Trailer section: fields until a blank line.
	for {
		line, err := chunkLine(dst, src)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if _, err := parseField(line); err != nil {
			return err
		}
	}
}

// chunkLine reads one CRLF-terminated line of chunk framing, copies it
// (with its CRLF) to dst, and returns it without the CRLF.
func chunkLine(dst *bufio.Writer, src *bufio.Reader) ([]byte, error) {
	if src.Buffered() == 0 {
		if err := dst.Flush(); err != nil {
			return nil, err
		}
	}
	line, err := src.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxChunkLine {
		return nil, ErrMalformed
	}
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(line); err != nil {
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, ErrMalformed
	}
	return line[:len(line)-2], nil
}

// chunkSize parses "1a3f" or "1a3f;ext=1".
func chunkSize(line []byte) (int64, error) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = trimOWS(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, ErrMalformed
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
			return 0, ErrMalformed
		}
		n = n<<4 | int64(d)
	}
	return n, nil
}
