// Package h1 reads and writes HTTP/1.1 messages for wake's fast path: the
// request and response heads parsed in place, without allocating, and
// bodies relayed by their framing (Content-Length or chunked). It is
// strict and conservative: anything it does not handle itself (HTTP/1.0,
// chunked requests, upgrades, Expect, duplicate or odd headers, HTTP/2's
// preface) is ErrUnsupported, and the caller hands the connection to
// net/http, which answers it or rejects it properly.
//
// The fast path exists because net/http costs a proxy several goroutine
// switches, a background read and a dozen allocations per request on each
// side; on a 2-core machine that halves the throughput of a proxied
// function. See router.Server and activator's ServeH1 for its two halves.
package h1
