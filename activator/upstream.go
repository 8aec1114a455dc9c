package activator

import (
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// An instance that breaks HTTP/1.1's framing gets its connection closed,
// never pooled: bytes it sent past the end of a response would otherwise
// be read as the answer to the next client's request on that connection.
// Each break is counted (wake_upstream_protocol_errors_total) and logged
// against the instance, so that the function's author sees their bug.

// protocolKind is how an instance broke the framing of its responses.
type protocolKind int

const (
	// extraBytes: bytes after a response's framing ended (a body after a
	// response to HEAD or a 204, more bytes than its Content-Length), or
	// bytes sent on an idle connection.
	extraBytes protocolKind = iota
	// malformedResponse: a response head that cannot be framed exactly.
	malformedResponse
	// truncatedResponse: the connection ended inside a response's body.
	truncatedResponse
	numProtocolKinds
)

var protocolKindNames = [numProtocolKinds]string{"extra_bytes", "malformed", "truncated"}

// protocolLogEvery bounds the log lines about one revision's breaks of one
// kind: a buggy handler breaks on every request, and the count is in the
// metric.
const protocolLogEvery = 10 * time.Second

// protocolErrors counts and logs one revision's breaks. Safe for
// concurrent use; report allocates only when it logs.
type protocolErrors struct {
	revision string
	metrics  *revisionMetrics
	log      *zap.Logger
	lastLog  [numProtocolKinds]atomic.Int64 // unix nanoseconds
	skipped  [numProtocolKinds]atomic.Int64 // breaks not logged since
}

func newProtocolErrors(rm *revisionMetrics, log *zap.Logger) *protocolErrors {
	return &protocolErrors{revision: rm.labels[2], metrics: rm, log: log}
}

// report records that instance broke the framing; got is what it sent
// that did not fit (logged quoted, at most 64 bytes), or nil.
func (p *protocolErrors) report(kind protocolKind, instance, what string, got []byte) {
	p.metrics.protocolError(kind)
	now := time.Now().UnixNano()
	last := p.lastLog[kind].Load()
	if now-last < int64(protocolLogEvery) || !p.lastLog[kind].CompareAndSwap(last, now) {
		p.skipped[kind].Add(1)
		return
	}
	fields := []zap.Field{
		zap.String("revision", p.revision), zap.String("instance", instance),
		zap.String("kind", protocolKindNames[kind]), zap.String("what", what),
		zap.Int64("notLoggedSince", p.skipped[kind].Swap(0)),
	}
	if got != nil {
		fields = append(fields, zap.Int("bytes", len(got)), zap.String("start", strconv.Quote(string(got[:min(len(got), 64)]))))
	}
	p.log.Warn("instance broke HTTP/1.1 framing; its connection was closed, not reused", fields...)
}
