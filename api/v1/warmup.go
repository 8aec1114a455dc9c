package v1

// Warmup is the requests wake sends to each new instance of a revision
// after its readiness probe passes and before it joins the endpoints that
// take traffic: a JVM's class loading and JIT, a cache's first fill, the
// first connections to a database happen there rather than in users'
// requests. Zero fields take the defaults in parentheses.
type Warmup struct {
	Path    string       `json:"path,omitempty"`   // ("/")
	Method  string       `json:"method,omitempty"` // (GET)
	Body    string       `json:"body,omitempty"`
	Headers []HTTPHeader `json:"headers,omitempty"`
	// Requests is how many requests to send (10), Concurrency how many at
	// once (1).
	Requests    int32 `json:"requests,omitempty"`
	Concurrency int32 `json:"concurrency,omitempty"`
	// TimeoutSeconds bounds the whole warm-up (60).
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// SuccessCodes are the statuses that count as success (any in
	// [200, 400)).
	SuccessCodes []int32 `json:"successCodes,omitempty"`
	// OnFailure is what a failed or timed-out warm-up does to the
	// instance: "block" (the default) stops and replaces it, "serve" lets
	// it take traffic anyway. Either way the failure shows in the
	// revision's status and logs.
	OnFailure string `json:"onFailure,omitempty"`
}

// Warm-up failure policies.
const (
	WarmupBlock = "block"
	WarmupServe = "serve"
)
