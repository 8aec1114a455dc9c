package e2e

import (
	"fmt"
	"strconv"
	"strings"
)

// The corpus's building blocks. rawHead is a request head with the
// function's Host first; smuggled is a complete request meant to be
// hidden in another's body.
func rawHead(method, target string, fields ...string) string {
	return method + " " + target + " HTTP/1.1\r\nHost: " + desyncHost + "\r\n" + rawFields(fields...) + "\r\n"
}

func rawFields(fields ...string) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	return b.String()
}

func smuggled(p string) string {
	return "GET " + p + "/hidden HTTP/1.1\r\nHost: " + desyncHost + "\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
}

func contentLength(n int) string { return "Content-Length: " + strconv.Itoa(n) }

func rawChunk(s string) string { return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n" }

// desyncCorpus is the shapes, after the published request-smuggling
// research (PortSwigger's, "HTTP Request Smuggling" by Linhart et al.,
// smuggler.py's mutations): Transfer-Encoding obfuscated every way a
// parser might read differently, with Content-Length before or after it
// framing the body differently; odd lengths and chunk sizes; line endings
// and folding; hop-by-hop fields naming framing fields; HTTP/1.0 and 0.9;
// odd Hosts; Expect; pipelining; forged forwarding fields.
func desyncCorpus() []desyncCase {
	var cs []desyncCase
	add := func(name string, build func(p string) string) { cs = append(cs, desyncCase{name, build}) }

	// Transfer-Encoding mutations, each in two attacks. CL.TE: the body,
	// by its length, holds a request that ends the chunked body early.
	// TE.CL: the length covers a chunk-size line only, so that the
	// chunk's data, a request, follows the body if the length wins.
	te := []struct{ name, field string }{
		{"plain", "Transfer-Encoding: chunked"},
		{"space before colon", "Transfer-Encoding : chunked"},
		{"tab before colon", "Transfer-Encoding\t: chunked"},
		{"tab after colon", "Transfer-Encoding:\tchunked"},
		{"no space", "Transfer-Encoding:chunked"},
		{"two spaces", "Transfer-Encoding:  chunked"},
		{"leading space (folds into Host)", " Transfer-Encoding: chunked"},
		{"trailing space", "Transfer-Encoding: chunked "},
		{"trailing tab", "Transfer-Encoding: chunked\t"},
		{"trailing CR", "Transfer-Encoding: chunked\r"},
		{"vertical tab", "Transfer-Encoding:\x0bchunked"},
		{"form feed", "Transfer-Encoding:\x0cchunked"},
		{"trailing vertical tab", "Transfer-Encoding: chunked\x0b"},
		{"case tRANSFER-eNCODING", "tRANSFER-eNCODING: cHUNKED"},
		{"upper case", "TRANSFER-ENCODING: CHUNKED"},
		{"xchunked", "Transfer-Encoding: xchunked"},
		{"chunk", "Transfer-Encoding: chunk"},
		{"chunked, identity", "Transfer-Encoding: chunked, identity"},
		{"identity, chunked", "Transfer-Encoding: identity, chunked"},
		{"gzip, chunked", "Transfer-Encoding: gzip, chunked"},
		{"chunked, chunked", "Transfer-Encoding: chunked, chunked"},
		{"duplicate chunked then identity", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity"},
		{"duplicate identity then chunked", "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked"},
		{"duplicate chunked", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"},
		{"quoted", "Transfer-Encoding: \"chunked\""},
		{"single-quoted", "Transfer-Encoding: 'chunked'"},
		{"obs-fold value", "Transfer-Encoding:\r\n chunked"},
		{"obs-fold mid-value", "Transfer-Encoding: chun\r\n ked"},
		{"folded into X", "X: y\r\n Transfer-Encoding: chunked"},
		{"folded into X by tab", "X: y\r\n\tTransfer-Encoding: chunked"},
		{"after bare CR", "X: y\rTransfer-Encoding: chunked"},
		{"after bare LF", "X: y\nTransfer-Encoding: chunked"},
		{"underscore", "Transfer_Encoding: chunked"},
		{"space in name", "Transfer Encoding: chunked"},
		{"accented value", "Transfer-Encoding: ch\x96nked"},
		{"accented name", "Transf\x82r-Encoding: chunked"},
		{"0xff before value", "Transfer-Encoding:\xffchunked"},
		{"NUL after value", "Transfer-Encoding: chunked\x00"},
		{"Content-Encoding", "Content-Encoding: chunked"},
		{"Connection names it", "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked"},
	}
	for _, c := range []byte{0x01, 0x0b, 0x0c, 0x1f, 0x7f, 0xa0} {
		te = append(te,
			struct{ name, field string }{fmt.Sprintf("0x%02x before name", c), string(c) + "Transfer-Encoding: chunked"},
			struct{ name, field string }{fmt.Sprintf("0x%02x before colon", c), "Transfer-Encoding" + string(c) + ": chunked"},
			struct{ name, field string }{fmt.Sprintf("0x%02x after value", c), "Transfer-Encoding: chunked" + string(c)})
	}
	for _, m := range te {
		add("CL.TE "+m.name, func(p string) string {
			body := "0\r\n\r\n" + smuggled(p)
			return rawHead("POST", p+"/innocent", contentLength(len(body)), m.field) + body
		})
	}
	for _, m := range te[:40] {
		add("TE.CL "+m.name, func(p string) string {
			size := strconv.FormatInt(int64(len(smuggled(p))), 16)
			return rawHead("POST", p+"/innocent", m.field, contentLength(len(size)+2)) + rawChunk(smuggled(p)) + "0\r\n\r\n"
		})
	}

	// Content-Length oddities: a body, then a request that shows where
	// the server thinks the body ended.
	next := func(p string) string { return rawHead("GET", p+"/next") }
	for _, f := range []struct{ name, field string }{
		{"plain", "Content-Length: 5"},
		{"leading zeros", "Content-Length: 0005"},
		{"plus sign", "Content-Length: +5"},
		{"negative", "Content-Length: -5"},
		{"hex", "Content-Length: 0x5"},
		{"decimal point", "Content-Length: 5.0"},
		{"list 5, 5", "Content-Length: 5, 5"},
		{"list 5, 6", "Content-Length: 5, 6"},
		{"two values by space", "Content-Length: 5 6"},
		{"duplicate same", "Content-Length: 5\r\nContent-Length: 5"},
		{"duplicate 5 then 6", "Content-Length: 5\r\nContent-Length: 6"},
		{"duplicate 6 then 5", "Content-Length: 6\r\nContent-Length: 5"},
		{"duplicate 0 then 5", "Content-Length: 0\r\nContent-Length: 5"},
		{"huge", "Content-Length: 99999999999999999999"},
		{"2^64+5", "Content-Length: 18446744073709551621"},
		{"space before colon", "Content-Length : 5"},
		{"vertical tab", "Content-Length:\x0b5"},
		{"obs-fold", "Content-Length:\r\n 5"},
		{"folded into X", "X: y\r\n Content-Length: 5"},
		{"after bare CR", "X: y\rContent-Length: 5"},
		{"case", "cONTENT-lENGTH: 5"},
		{"trailing tab", "Content-Length: 5\t"},
		{"18 digits", "Content-Length: 000000000000000005"},
		{"19 digits", "Content-Length: 0000000000000000005"},
		{"underscore", "Content_Length: 5"},
	} {
		add("CL "+f.name, func(p string) string { return rawHead("POST", p+"/cl", f.field) + "hello" + next(p) })
	}
	add("CL longer than the body", func(p string) string { return rawHead("POST", p+"/short", contentLength(50)) + "hello" })
	add("CL 0 then a request", func(p string) string { return rawHead("POST", p+"/zero", contentLength(0)) + next(p) })
	add("CL and TE, TE first", func(p string) string {
		body := "0\r\n\r\n" + smuggled(p)
		return rawHead("POST", p+"/innocent", "Transfer-Encoding: chunked", contentLength(len(body))) + body
	})
	add("CL and TE, TE.CL with TE first", func(p string) string {
		size := strconv.FormatInt(int64(len(smuggled(p))), 16)
		return rawHead("POST", p+"/innocent", contentLength(len(size)+2), "Transfer-Encoding: chunked") + rawChunk(smuggled(p)) + "0\r\n\r\n"
	})

	// Chunked bodies: framing that parsers disagree on, then a request.
	for _, b := range []struct{ name, body string }{
		{"plain", "5\r\nhello\r\n0\r\n\r\n"},
		{"size zz", "zz\r\nhello\r\n0\r\n\r\n"},
		{"size with leading space", " 5\r\nhello\r\n0\r\n\r\n"},
		{"size with trailing space", "5 \r\nhello\r\n0\r\n\r\n"},
		{"size with trailing tab", "5\t\r\nhello\r\n0\r\n\r\n"},
		{"size 0x5", "0x5\r\nhello\r\n0\r\n\r\n"},
		{"size -5", "-5\r\nhello\r\n0\r\n\r\n"},
		{"size +5", "+5\r\nhello\r\n0\r\n\r\n"},
		{"size with 17 digits", "00000000000000005\r\nhello\r\n0\r\n\r\n"},
		{"size overflowing 64 bits", "10000000000000005\r\nhello\r\n0\r\n\r\n"},
		{"upper-case size", "A\r\nhellohello\r\n0\r\n\r\n"},
		{"last chunk 000", "5\r\nhello\r\n000\r\n\r\n"},
		{"no CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n"},
		{"data longer than size", "3\r\nhello\r\n0\r\n\r\n"},
		{"LF-only lines", "5\nhello\n0\n\n"},
		{"LF after data", "5\r\nhello\n0\r\n\r\n"},
		{"LF after size", "5\nhello\r\n0\r\n\r\n"},
		{"CR only after data", "5\r\nhello\r0\r\n\r\n"},
		{"extension", "5;name=value\r\nhello\r\n0\r\n\r\n"},
		{"extension quoted", "5;name=\"a;b\"\r\nhello\r\n0\r\n\r\n"},
		{"extension quoted escape", "5;name=\"a\\\"b\"\r\nhello\r\n0\r\n\r\n"},
		{"extension with space", "5 ; name = value\r\nhello\r\n0\r\n\r\n"},
		{"extension with control byte", "5;\x01\r\nhello\r\n0\r\n\r\n"},
		{"extension with bare LF", "5;a\nb\r\nhello\r\n0\r\n\r\n"},
		{"extension of 8 KiB", "5;" + strings.Repeat("x", 8<<10) + "\r\nhello\r\n0\r\n\r\n"},
		{"extension on last chunk", "5\r\nhello\r\n0;x=y\r\n\r\n"},
		{"trailer", "5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"},
		{"trailer Content-Length", "5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n"},
		{"trailer Transfer-Encoding", "5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"trailer Host", "5\r\nhello\r\n0\r\nHost: evil.example\r\n\r\n"},
		{"trailer folded", "5\r\nhello\r\n0\r\nX-Trailer: a\r\n b\r\n\r\n"},
		{"no blank line after last chunk", "5\r\nhello\r\n0\r\n"},
	} {
		add("chunked "+b.name, func(p string) string {
			return rawHead("POST", p+"/chunked", "Transfer-Encoding: chunked") + b.body + next(p)
		})
	}

	// Connection naming framing and routing fields.
	for _, v := range []string{"Content-Length", "content-length", "keep-alive, Content-Length", "close, Content-Length",
		", Content-Length ,", "Upgrade, Content-Length"} {
		add("Connection: "+v, func(p string) string {
			return rawHead("POST", p+"/innocent", "Connection: "+v, contentLength(len(smuggled(p)))) + smuggled(p)
		})
	}
	add("Connection: Content-Length after it", func(p string) string {
		return rawHead("POST", p+"/innocent", contentLength(len(smuggled(p))), "Connection: Content-Length") + smuggled(p)
	})
	add("Connection: Content-Length on GET", func(p string) string {
		return rawHead("GET", p+"/innocent", "Connection: Content-Length", contentLength(len(smuggled(p)))) + smuggled(p)
	})
	add("Connection: Content-Length, Transfer-Encoding", func(p string) string {
		body := "0\r\n\r\n" + smuggled(p)
		return rawHead("POST", p+"/innocent", "Connection: Content-Length, Transfer-Encoding", contentLength(len(body)), "Transfer-Encoding: chunked") + body
	})
	add("Connection: Transfer-Encoding, chunked body", func(p string) string {
		return rawHead("POST", p+"/innocent", "Connection: Transfer-Encoding", "Transfer-Encoding: chunked") + rawChunk(smuggled(p)) + "0\r\n\r\n" + next(p)
	})
	add("Connection: Host", func(p string) string { return rawHead("GET", p+"/innocent", "Connection: Host") + next(p) })
	add("Connection: X-Forwarded-Host", func(p string) string {
		return rawHead("GET", p+"/innocent", "Connection: X-Forwarded-Host", "X-Forwarded-Host: evil.example") + next(p)
	})
	add("Connection: X-Forwarded-For", func(p string) string {
		return rawHead("GET", p+"/innocent", "Connection: X-Forwarded-For", "X-Forwarded-For: 6.6.6.6") + next(p)
	})
	add("Connection: Forwarded", func(p string) string {
		return rawHead("GET", p+"/innocent", "Connection: Forwarded", "Forwarded: for=6.6.6.6") + next(p)
	})
	add("websocket upgrade the instance declines, then a request", func(p string) string {
		return rawHead("GET", p+"/ws", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==") + smuggled(p)
	})
	add("h2c upgrade the instance declines, then a request", func(p string) string {
		return rawHead("GET", p+"/h2c", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA") + smuggled(p)
	})
	add("websocket upgrade with forged forwarding fields", func(p string) string {
		return rawHead("GET", p+"/ws", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Forwarded: for=6.6.6.6;host=evil.example", "X-Forwarded-Host: evil.example")
	})
	add("two Connection fields", func(p string) string {
		return rawHead("POST", p+"/innocent", "Connection: keep-alive", "Connection: Content-Length", contentLength(len(smuggled(p)))) + smuggled(p)
	})

	// Heads: line endings, folding, request lines.
	add("bare LF line endings", func(p string) string {
		return "GET " + p + "/lf HTTP/1.1\nHost: " + desyncHost + "\n\n" + next(p)
	})
	add("bare LF, body by length", func(p string) string {
		return "POST " + p + "/lf HTTP/1.1\nHost: " + desyncHost + "\n" + contentLength(len(smuggled(p))) + "\n\n" + smuggled(p)
	})
	add("one bare LF", func(p string) string { return rawHead("GET", p+"/lf", "X: a\nY: b") + next(p) })
	add("bare CR in a field", func(p string) string { return rawHead("GET", p+"/cr", "X: a\rb") + next(p) })
	add("bare CR ends the head", func(p string) string {
		return "GET " + p + "/cr HTTP/1.1\r\nHost: " + desyncHost + "\r\n\r" + next(p)
	})
	add("bare CR in the request line", func(p string) string {
		return "GET " + p + "/cr HTTP/1.1\rHost: " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("CRLF before the request line", func(p string) string { return "\r\n" + rawHead("GET", p+"/crlf") + next(p) })
	add("obs-fold in another field", func(p string) string { return rawHead("GET", p+"/fold", "X: a\r\n b") + next(p) })
	add("obs-fold of Host", func(p string) string {
		return "GET " + p + "/fold HTTP/1.1\r\nHost:\r\n " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("field without colon", func(p string) string { return rawHead("GET", p+"/nocolon", "X") + next(p) })
	add("NUL in a value", func(p string) string { return rawHead("GET", p+"/nul", "X: a\x00b") + next(p) })
	add("obs-text in a value", func(p string) string {
		return rawHead("POST", p+"/obs", "X: caf\xe9", contentLength(5)) + "hello" + next(p)
	})
	add("head over 8 KiB", func(p string) string {
		return rawHead("POST", p+"/big", "X-Pad: "+strings.Repeat("p", 9<<10), contentLength(5)) + "hello" + next(p)
	})
	add("double space in request line", func(p string) string {
		return "GET  " + p + "/sp HTTP/1.1\r\nHost: " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("tabs in request line", func(p string) string {
		return "GET\t" + p + "/tab\tHTTP/1.1\r\nHost: " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("lower-case method", func(p string) string { return rawHead("get", p+"/lower") + next(p) })
	add("HTTP/1.2", func(p string) string {
		return "GET " + p + "/v12 HTTP/1.2\r\nHost: " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("HTTP/0.9", func(p string) string { return "GET " + p + "/v09\r\n\r\n" + next(p) })
	add("HTTP/0.9 alone", func(p string) string { return "GET " + p + "/v09\r\n" })
	add("HTTP/1.0 TE chunked", func(p string) string {
		return "POST " + p + "/v10 HTTP/1.0\r\nHost: " + desyncHost + "\r\nTransfer-Encoding: chunked\r\n\r\n" + rawChunk(smuggled(p)) + "0\r\n\r\n"
	})
	add("HTTP/1.0 keep-alive TE chunked", func(p string) string {
		return "POST " + p + "/v10 HTTP/1.0\r\nHost: " + desyncHost + "\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
			rawChunk(smuggled(p)) + "0\r\n\r\n" + next(p)
	})
	add("HTTP/1.0 keep-alive CL.TE", func(p string) string {
		body := "0\r\n\r\n" + smuggled(p)
		return "POST " + p + "/v10 HTTP/1.0\r\nHost: " + desyncHost + "\r\nConnection: keep-alive\r\n" + contentLength(len(body)) +
			"\r\nTransfer-Encoding: chunked\r\n\r\n" + body
	})
	add("HTTP/1.0 then more", func(p string) string {
		return "GET " + p + "/v10 HTTP/1.0\r\nHost: " + desyncHost + "\r\n\r\n" + next(p)
	})
	add("HTTP/1.0 keep-alive pipelined", func(p string) string {
		return "GET " + p + "/v10 HTTP/1.0\r\nHost: " + desyncHost + "\r\nConnection: keep-alive\r\n\r\n" + next(p)
	})
	add("absolute-form", func(p string) string { return rawHead("GET", "http://"+desyncHost+p+"/abs") + next(p) })
	add("absolute-form, another Host", func(p string) string {
		return "GET http://" + desyncHost + p + "/abs HTTP/1.1\r\nHost: other.default.localhost\r\n\r\n" + next(p)
	})
	add("absolute-form with a body", func(p string) string {
		return rawHead("POST", "http://"+desyncHost+p+"/abs", contentLength(len(smuggled(p)))) + smuggled(p)
	})

	// Hosts.
	host := func(h string) func(p string) string {
		return func(p string) string { return "GET " + p + "/host HTTP/1.1\r\n" + h + "\r\n" + next(p) }
	}
	add("missing Host", host(""))
	add("duplicate Host", host("Host: "+desyncHost+"\r\nHost: "+desyncHost+"\r\n"))
	add("duplicate Host, two names", host("Host: "+desyncHost+"\r\nHost: other.default.localhost\r\n"))
	add("empty Host", host("Host: \r\n"))
	add("Host with port", host("Host: "+desyncHost+":80\r\n"))
	add("Host upper case, trailing dot", host("HOST: "+strings.ToUpper(desyncHost)+".\r\n"))
	add("Host with control byte", host("Host: "+desyncHost+"\x01\r\n"))
	add("Host with space", host("Host: "+desyncHost+" evil\r\n"))
	add("Host with @", host("Host: evil@"+desyncHost+"\r\n"))
	add("Host with slash", host("Host: "+desyncHost+"/evil\r\n"))
	add("Host with 0x80", host("Host: "+desyncHost+"\x80\r\n"))

	// Expect.
	add("Expect: 100-continue with the body", func(p string) string {
		return rawHead("POST", p+"/expect", "Expect: 100-continue", contentLength(5)) + "hello" + next(p)
	})
	add("Expect: 100-continue, body a request", func(p string) string {
		return rawHead("POST", p+"/expect", "Expect: 100-continue", contentLength(len(smuggled(p)))) + smuggled(p)
	})
	add("Expect: 100-continue, chunked", func(p string) string {
		return rawHead("POST", p+"/expect", "Expect: 100-continue", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n" + next(p)
	})
	add("Expect: 100-continue without a body", func(p string) string { return rawHead("GET", p+"/expect", "Expect: 100-continue") + next(p) })
	add("Expect: unknown", func(p string) string {
		return rawHead("POST", p+"/expect", "Expect: x-wake", contentLength(5)) + "hello" + next(p)
	})

	// Pipelining, and requests in bodies.
	add("two GETs", func(p string) string { return rawHead("GET", p+"/first") + rawHead("GET", p+"/second") })
	add("five GETs", func(p string) string {
		var b strings.Builder
		for i := range 5 {
			b.WriteString(rawHead("GET", fmt.Sprintf("%s/p%d", p, i)))
		}
		return b.String()
	})
	add("GET, POST, GET", func(p string) string {
		return rawHead("GET", p+"/a") + rawHead("POST", p+"/b", contentLength(5)) + "hello" + next(p)
	})
	add("GET with a body", func(p string) string { return rawHead("GET", p+"/get", contentLength(5)) + "hello" + next(p) })
	add("GET with a request for body", func(p string) string { return rawHead("GET", p+"/get", contentLength(len(smuggled(p)))) + smuggled(p) })
	add("GET with an unframed request after", func(p string) string { return rawHead("GET", p+"/get") + smuggled(p) })
	add("body a request with a length", func(p string) string {
		inner := "POST " + p + "/hidden HTTP/1.1\r\nHost: " + desyncHost + "\r\n" + contentLength(5) + "\r\n\r\nhello"
		return rawHead("POST", p+"/innocent", contentLength(len(inner))) + inner
	})
	add("body a chunked request", func(p string) string {
		inner := "POST " + p + "/hidden HTTP/1.1\r\nHost: " + desyncHost + "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
		return rawHead("POST", p+"/innocent", contentLength(len(inner))) + inner
	})
	add("body an HTTP/1.0 request", func(p string) string {
		inner := "GET " + p + "/hidden HTTP/1.0\r\nHost: " + desyncHost + "\r\n\r\n"
		return rawHead("POST", p+"/innocent", contentLength(len(inner))) + inner
	})
	add("chunk a request with a length", func(p string) string {
		inner := "POST " + p + "/hidden HTTP/1.1\r\nHost: " + desyncHost + "\r\n" + contentLength(5) + "\r\n\r\nhello"
		return rawHead("POST", p+"/innocent", "Transfer-Encoding: chunked") + rawChunk(inner) + "0\r\n\r\n" + next(p)
	})
	add("chunks splitting a request", func(p string) string {
		h := smuggled(p)
		return rawHead("POST", p+"/innocent", "Transfer-Encoding: chunked") + rawChunk(h[:10]) + rawChunk(h[10:]) + "0\r\n\r\n" + next(p)
	})
	add("HEAD then GET", func(p string) string { return rawHead("HEAD", p+"/head") + rawHead("GET", p+"/after") })
	add("HEAD with a request for body", func(p string) string {
		return rawHead("HEAD", p+"/head", contentLength(len(smuggled(p)))) + smuggled(p)
	})
	add("Connection: close, then more", func(p string) string { return rawHead("GET", p+"/close", "Connection: close") + next(p) })
	add("body of 70000 bytes", func(p string) string {
		return rawHead("POST", p+"/large", contentLength(70000)) + strings.Repeat("b", 70000) + next(p)
	})
	add("chunked body of 70000 bytes", func(p string) string {
		return rawHead("POST", p+"/large", "Transfer-Encoding: chunked") + rawChunk(strings.Repeat("b", 70000)) + "0\r\n\r\n" + next(p)
	})

	// Forged forwarding fields.
	for _, f := range []struct{ name, fields string }{
		{"X-Forwarded-For", "X-Forwarded-For: 6.6.6.6"},
		{"two X-Forwarded-For", "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7"},
		{"X-Forwarded-For ending in a comma", "X-Forwarded-For: 6.6.6.6,"},
		{"X-Forwarded-Host", "X-Forwarded-Host: evil.example"},
		{"two X-Forwarded-Host", "X-Forwarded-Host: evil.example\r\nX-Forwarded-Host: evil2.example"},
		{"Forwarded", "Forwarded: for=6.6.6.6;host=evil.example;proto=https"},
		{"all of them", "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6"},
	} {
		add("forged "+f.name, func(p string) string { return rawHead("GET", p+"/fwd", f.fields) + next(p) })
	}
	return cs
}
