package h1

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
	"time"
)

func TestPinningFields(t *testing.T) {
	tests := []struct {
		name        string
		fields      string
		tag, cookie string
		tagNil      bool
		cookieNil   bool
		unsupported bool
	}{
		{name: "none", tagNil: true, cookieNil: true},
		{name: "wake's tag", fields: "Wake-Revision-Tag:  canary \r\n", tag: "canary", cookieNil: true},
		{name: "Knative's tag", fields: "knative-serving-tag: stable\r\n", tag: "stable", cookieNil: true},
		{name: "wake's wins, first", fields: "Wake-Revision-Tag: a\r\nKnative-Serving-Tag: b\r\n", tag: "a", cookieNil: true},
		{name: "wake's wins, second", fields: "Knative-Serving-Tag: b\r\nWake-Revision-Tag: a\r\n", tag: "a", cookieNil: true},
		{name: "cookie", fields: "Cookie: a=1; wake-revision=x\r\n", tagNil: true, cookie: "a=1; wake-revision=x"},
		{name: "two cookie fields go to net/http", fields: "Cookie: a=1\r\nCookie: b=2\r\n", unsupported: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			head := "GET / HTTP/1.1\r\nHost: h\r\n" + tc.fields + "\r\n"
			err := r.Parse([]byte(head))
			if tc.unsupported {
				if err != ErrUnsupported {
					t.Fatalf("Parse: %v, want ErrUnsupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Tag) != tc.tag || (r.Tag == nil) != tc.tagNil {
				t.Errorf("Tag = %q (nil %v), want %q", r.Tag, r.Tag == nil, tc.tag)
			}
			if string(r.Cookie) != tc.cookie || (r.Cookie == nil) != tc.cookieNil {
				t.Errorf("Cookie = %q (nil %v), want %q", r.Cookie, r.Cookie == nil, tc.cookie)
			}
			// Both are forwarded to the function (values trimmed).
			sent := strings.NewReplacer(":  ", ": ", " \r\n", "\r\n").Replace(tc.fields)
			if out := string(r.AppendOutbound(nil, "10.0.0.1")); !strings.Contains(out, sent) {
				t.Errorf("outbound head %q lost %q", out, sent)
			}
		})
	}
	// A reused Request forgets them.
	var r Request
	r.Parse([]byte("GET / HTTP/1.1\r\nHost: h\r\nWake-Revision-Tag: a\r\nCookie: c=1\r\n\r\n"))
	r.Parse([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
	if r.Tag != nil || r.Cookie != nil {
		t.Errorf("after a request without them: Tag %q, Cookie %q", r.Tag, r.Cookie)
	}
}

func TestAppendClientExtra(t *testing.T) {
	var r Response
	head := "HTTP/1.1 200 OK\r\nServer-Timing: db;dur=3\r\nSet-Cookie: s=1\r\nContent-Length: 0\r\n\r\n"
	if err := r.Parse([]byte(head), false); err != nil {
		t.Fatal(err)
	}
	extra := []byte("Set-Cookie: wake-revision=r; Path=/\r\nServer-Timing: wake-queue;dur=1.0\r\n")
	want := "HTTP/1.1 200 OK\r\nServer-Timing: db;dur=3\r\nSet-Cookie: s=1\r\nContent-Length: 0\r\n" + string(extra) + "Connection: close\r\n\r\n"
	if got := string(r.AppendClient(nil, true, extra)); got != want {
		t.Errorf("AppendClient =\n%q\nwant\n%q", got, want)
	}
}

// Extra's lines reach wake's own answers too, and Reset empties them
// without giving up their storage.
func TestExchangeExtra(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	var out bytes.Buffer
	ex := &Exchange{In: bufio.NewReader(server), Out: bufio.NewWriter(&out), Conn: server}
	if err := ex.Req.Parse([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	ex.Reset(time.Now())
	ex.AddHeader("Set-Cookie", "wake-revision=r")
	ex.WriteError(503, "no\n", "Retry-After: 1\r\n")
	ex.Out.Flush()
	want := "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n" +
		"Content-Length: 3\r\nRetry-After: 1\r\nSet-Cookie: wake-revision=r\r\n\r\nno\n"
	if out.String() != want {
		t.Errorf("WriteError wrote\n%q\nwant\n%q", out.String(), want)
	}
	c := cap(ex.Extra)
	ex.Reset(time.Now())
	if len(ex.Extra) != 0 || cap(ex.Extra) != c {
		t.Errorf("after Reset: Extra %q, cap %d (was %d)", ex.Extra, cap(ex.Extra), c)
	}
}
