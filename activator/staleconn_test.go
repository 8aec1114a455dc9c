package activator

import "testing"

// TestFramingFindsTheEndOfEachResponse feeds responses to the framing in
// every split into two reads, and checks where it says the response ended
// and whether bytes past it are seen as stray.
func TestFramingFindsTheEndOfEachResponse(t *testing.T) {
	for _, tc := range []struct {
		name, request, response string
		stray, opaque           bool
	}{
		{"content-length", "GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false},
		{"past content-length", "GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokX", true, false},
		{"chunked with trailer", "GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\nT: 1\r\n\r\n", false, false},
		{"past chunked", "GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP", true, false},
		{"body after HEAD", "HEAD / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", true, false},
		{"body on 204", "GET / HTTP/1.1\r\n", "HTTP/1.1 204 No Content\r\n\r\nX", true, false},
		{"100 continue then final", "POST / HTTP/1.1\r\n", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", false, false},
		{"an upgrade is a tunnel", "GET / HTTP/1.1\r\n", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nframes", false, true},
		{"to EOF", "GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n\r\nall of it", false, true},
	} {
		for cut := 0; cut <= len(tc.response); cut++ {
			var f framing
			f.request([]byte(tc.request))
			f.read([]byte(tc.response[:cut]))
			f.read([]byte(tc.response[cut:]))
			if f.stray != tc.stray || (f.state == frameOpaque) != tc.opaque || !tc.opaque && !tc.stray && f.state != frameIdle {
				t.Fatalf("%s, cut at %d: stray %v, state %v; want stray %v, opaque %v", tc.name, cut, f.stray, f.state, tc.stray, tc.opaque)
			}
		}
	}
}
