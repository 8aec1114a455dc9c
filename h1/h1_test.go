package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name   string
		head   string
		want   string // the outbound head with client 10.0.0.1; "" for ErrUnsupported
		status int    // a refusal: the RequestError's status
	}{
		{
			name: "plain GET",
			head: "GET /a?b=1 HTTP/1.1\r\nHost: hello.default.localhost:8080\r\nUser-Agent: curl/8\r\n\r\n",
			want: "GET /a?b=1 HTTP/1.1\r\nHost: hello.default.localhost:8080\r\nUser-Agent: curl/8\r\n" +
				"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: hello.default.localhost:8080\r\nX-Forwarded-Proto: http\r\n" +
				"Forwarded: for=10.0.0.1;host=\"hello.default.localhost:8080\";proto=http\r\n\r\n",
		},
		{
			name: "hop-by-hop fields are not forwarded, nor those Connection names",
			head: "POST / HTTP/1.1\r\nhost: h\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\nX-Secret: s\r\n" +
				"Proxy-Authorization: x\r\nContent-Length: 3\r\nX-Forwarded-Proto: https\r\nTE: trailers, deflate\r\n\r\n",
			want: "POST / HTTP/1.1\r\nhost: h\r\nContent-Length: 3\r\n" +
				"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: h\r\nX-Forwarded-Proto: http\r\n" +
				"Forwarded: for=10.0.0.1;host=\"h\";proto=http\r\nTE: trailers\r\n\r\n",
		},
		{
			name: "Connection cannot drop the fields that frame the request",
			head: "POST / HTTP/1.1\r\nHost: h\r\nConnection: Content-Length, Host, Transfer-Encoding\r\nContent-Length: 0004\r\n\r\n",
			want: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n" +
				"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: h\r\nX-Forwarded-Proto: http\r\n" +
				"Forwarded: for=10.0.0.1;host=\"h\";proto=http\r\n\r\n",
		},
		{
			name: "a chunked body is sent on as chunked, in canonical form",
			head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED \r\nConnection: transfer-encoding\r\n\r\n",
			want: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n" +
				"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: h\r\nX-Forwarded-Proto: http\r\n" +
				"Forwarded: for=10.0.0.1;host=\"h\";proto=http\r\n\r\n",
		},
		{
			name: "X-Forwarded-For is appended to; X-Forwarded-Host is the host wake saw",
			head: "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Host: outer\r\nForwarded: for=1.2.3.4\r\n\r\n",
			want: "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=1.2.3.4\r\n" +
				"X-Forwarded-For: 1.2.3.4, 10.0.0.1\r\nX-Forwarded-Host: h\r\nX-Forwarded-Proto: http\r\nForwarded: for=10.0.0.1;host=\"h\";proto=http\r\n\r\n",
		},
		{
			name: "an empty body keeps its length",
			head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
			want: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n" +
				"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: h\r\nX-Forwarded-Proto: http\r\nForwarded: for=10.0.0.1;host=\"h\";proto=http\r\n\r\n",
		},

		// Well formed, but net/http serves them.
		{name: "HTTP/1.0", head: "GET / HTTP/1.0\r\nHost: h\r\n\r\n"},
		{name: "HTTP/1.0 without a host", head: "GET / HTTP/1.0\r\n\r\n"},
		{name: "upgrade", head: "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"},
		{name: "expect", head: "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n"},
		{name: "absolute target", head: "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "OPTIONS *", head: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "h2c preface", head: "PRI * HTTP/2.0\r\n\r\n"},
		{name: "non-ASCII target", head: "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "two cookies", head: "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n"},
		{name: "an odd host", head: "GET / HTTP/1.1\r\nHost: a~b\r\n\r\n"},

		// Refused: net/http refuses them too, or RFC 9112 calls them ambiguous.
		{name: "both length and chunked", head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "chunked in HTTP/1.0", head: "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "another coding in HTTP/1.0", head: "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", status: 400},
		{name: "two codings", head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501},
		{name: "two TE fields", head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 501},
		{name: "xchunked", head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", status: 501},
		{name: "two lengths", head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", status: 400},
		{name: "signed length", head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n", status: 400},
		{name: "space before colon", head: "GET / HTTP/1.1\r\nHost : h\r\n\r\n", status: 400},
		{name: "folded line", head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", status: 400},
		{name: "bare LF", head: "GET / HTTP/1.1\nHost: h\n\n", status: 400},
		{name: "bare LF in the fields", head: "GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\r\n", status: 400},
		{name: "no host", head: "GET / HTTP/1.1\r\nX-A: a\r\n\r\n", status: 400},
		{name: "two hosts", head: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400},
		{name: "control byte in value", head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n", status: 400},
		{name: "space in target", head: "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "HTTP/0.9", head: "GET /\r\n\r\n", status: 400},
		{name: "HTTP/1.2", head: "GET / HTTP/1.2\r\nHost: h\r\n\r\n", status: 505},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			err := r.Parse([]byte(tc.head))
			var re *RequestError
			switch {
			case tc.status != 0:
				if !errors.As(err, &re) || re.Status != tc.status || !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse = %v, want a refusal with status %d", err, tc.status)
				}
				return
			case tc.want == "":
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("Parse = %v, want ErrUnsupported", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := string(r.AppendOutbound(nil, "10.0.0.1")); got != tc.want {
				t.Errorf("outbound head\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRequestConnectionClose(t *testing.T) {
	var r Request
	if err := r.Parse([]byte("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")); err != nil || !r.Close {
		t.Errorf("Close = %v, err %v; want true", r.Close, err)
	}
	if err := r.Parse([]byte("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")); err != nil || r.Close || !r.Head {
		t.Errorf("a reused Request kept Close, or HEAD was not seen")
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name    string
		head    string
		toHead  bool
		framing Framing
		length  int64
		close   bool
		out     string // head for the client, "" to skip
		wantErr bool
	}{
		{name: "length", head: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n",
			framing: Length, length: 5, out: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"},
		{name: "the length is sent on in canonical form, whatever Connection names",
			head:    "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 005\r\n\r\n",
			framing: Length, length: 5, out: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"},
		{name: "chunked", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n", framing: Chunked},
		{name: "chunked wins over length, which is dropped, and the connection is not reused",
			head:    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
			framing: Chunked, close: true, out: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"},
		{name: "HEAD keeps the length it announces", head: "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", toHead: true,
			framing: NoBody, length: 12, out: "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"},
		{name: "two codings", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", wantErr: true},
		{name: "two TE fields", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: true},
		{name: "chunked in HTTP/1.0", head: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: true},
		{name: "until close", head: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", framing: UntilClose, close: true},
		{name: "HEAD has no body", head: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", toHead: true, framing: NoBody, length: 5},
		{name: "204", head: "HTTP/1.1 204 No Content\r\n\r\n", framing: NoBody},
		{name: "HTTP/1.0 closes", head: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", framing: Length, length: 1, close: true},
		{name: "connection close and the fields it names are dropped",
			head:    "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: t\r\nContent-Length: 0\r\n\r\n",
			framing: Length, close: true, out: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
		{name: "conflicting lengths", head: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", wantErr: true},
		{name: "unknown coding", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", wantErr: true},
		{name: "not HTTP", head: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			err := r.Parse([]byte(tc.head), tc.toHead)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Parse = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if r.Framing != tc.framing || r.ContentLength != tc.length || r.Close != tc.close {
				t.Errorf("framing %v length %d close %v; want %v %d %v", r.Framing, r.ContentLength, r.Close, tc.framing, tc.length, tc.close)
			}
			if tc.out != "" {
				if got := string(r.AppendClient(nil, r.Close, nil)); got != tc.out {
					t.Errorf("client head\n got %q\nwant %q", got, tc.out)
				}
			}
		})
	}
}

func TestReadHead(t *testing.T) {
	const msg = "GET / HTTP/1.1\r\nHost: h\r\n\r\nNEXT"
	// Delivered one byte at a time, the head is still found whole.
	br := bufio.NewReaderSize(&trickle{s: msg}, 64)
	head, err := ReadHead(br)
	if err != nil || string(head) != msg[:len(msg)-4] {
		t.Fatalf("ReadHead = %q, %v", head, err)
	}
	br.Discard(len(head))
	if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
		t.Errorf("after the head: %q", rest)
	}
	// A whole message in one read, and nothing after it: the head must
	// come back without waiting for more.
	pr, pw := io.Pipe()
	go pw.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	if head, err := ReadHead(bufio.NewReader(pr)); err != nil || !strings.HasSuffix(string(head), "2\r\n\r\n") {
		t.Errorf("ReadHead of a message read whole = %q, %v", head, err)
	}
	big := bufio.NewReaderSize(strings.NewReader("GET / HTTP/1.1\r\nX: "+strings.Repeat("a", 100)+"\r\n\r\n"), 32)
	if _, err := ReadHead(big); !errors.Is(err, ErrHeadTooLarge) {
		t.Errorf("a head larger than the buffer: %v, want ErrHeadTooLarge", err)
	}
	if _, err := ReadHead(bufio.NewReader(strings.NewReader("GET / HT"))); err != io.EOF {
		t.Errorf("a cut head: %v, want io.EOF", err)
	}
}

type trickle struct{ s string }

func (t *trickle) Read(p []byte) (int, error) {
	if t.s == "" {
		return 0, io.EOF
	}
	p[0], t.s = t.s[0], t.s[1:]
	return 1, nil
}

func TestRelayChunked(t *testing.T) {
	body := "5;ext=\"a;b\"\r\nhello\r\n06 \r\n world\r\n0\r\nX-Trailer: done\r\n\r\n"
	canonical := "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: done\r\n\r\n"
	src := bufio.NewReaderSize(&trickle{s: body + "HTTP/1.1 200 OK"}, 32)
	var out bytes.Buffer
	dst := bufio.NewWriter(&out)
	if err := RelayChunked(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Flush()
	if out.String() != canonical {
		t.Errorf("relayed %q, want the same chunks in canonical form %q", out.String(), canonical)
	}
	if next, _ := src.Peek(4); string(next) != "HTTP" {
		t.Errorf("reader left at %q, want the next message", next)
	}
	for _, bad := range []string{
		"zz\r\n", "5\r\nhelloXX", "5\r\nhel", "1\nx\r\n0\r\n\r\n", " 5\r\nhello\r\n0\r\n\r\n",
		"5 ;x\r\nhello\r\n0\r\n\r\n", "0x5\r\nhello\r\n0\r\n\r\n", "-5\r\n", "1000000000000000\r\n",
		"5\r\nhello\n0\r\n\r\n", "0\r\nContent-Length: 5\r\n\r\n", "0\r\nHost: x\r\n\r\n", "0\r\nX : y\r\n\r\n",
		"5\r\nhello\r\n0\r\n", "5\r\nhello\r\n0\r\n\n",
	} {
		err := RelayChunked(bufio.NewWriter(io.Discard), bufio.NewReader(strings.NewReader(bad)))
		if err == nil || !IsReadError(err) {
			t.Errorf("RelayChunked(%q) = %v, want a ReadError", bad, err)
		}
	}
}

func TestRelay(t *testing.T) {
	src := bufio.NewReaderSize(strings.NewReader("0123456789rest"), 16)
	var out bytes.Buffer
	dst := bufio.NewWriter(&out)
	if err := Relay(dst, src, 10); err != nil {
		t.Fatal(err)
	}
	dst.Flush()
	if out.String() != "0123456789" {
		t.Errorf("relayed %q", out.String())
	}
	err := Relay(dst, bufio.NewReader(strings.NewReader("abc")), 5)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !IsReadError(err) {
		t.Errorf("short body: %v, want a ReadError of io.ErrUnexpectedEOF", err)
	}
	if err := Relay(bufio.NewWriter(failWriter{}), bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 64)), 16), 64); err == nil || IsReadError(err) {
		t.Errorf("a failed write: %v, want an error that is not a ReadError", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func BenchmarkParseRequest(b *testing.B) {
	head := []byte("GET /api/orders?id=42 HTTP/1.1\r\nHost: hello.default.localhost:8080\r\nUser-Agent: wrk\r\n" +
		"Accept: */*\r\nAccept-Encoding: gzip\r\nX-Request-Id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n\r\n")
	var r Request
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Parse(head); err != nil {
			b.Fatal(err)
		}
		buf = r.AppendOutbound(buf[:0], "127.0.0.1")
	}
}

func TestAppendForwarded(t *testing.T) {
	for _, tc := range []struct{ ip, host, want string }{
		{"10.0.0.1", "h", `for=10.0.0.1;host="h";proto=http`},
		{"::1", "hello.default.localhost:8080", `for="[::1]";host="hello.default.localhost:8080";proto=http`},
		{"10.0.0.1", `a"b\c` + "\x01", `for=10.0.0.1;host="a\"b\\c";proto=http`},
	} {
		if got := string(AppendForwarded(nil, tc.ip, tc.host)); got != tc.want {
			t.Errorf("AppendForwarded(%q, %q) = %s, want %s", tc.ip, tc.host, got, tc.want)
		}
	}
}
