package demand

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/utils/clock"
)

// Reports and wake-ups carry a token the gateways and the controllers
// share, as "Authorization: Bearer TOKEN". Without it anyone who reaches
// the controller's port could make the autoscaler scale a revision up (a
// cost) or hold it at zero with reports of no demand.
const (
	// MinTokenLen is the shortest token accepted: 32 characters of a
	// base64 alphabet are 192 bits, past any guessing. The controller
	// generates 43 (32 random bytes).
	MinTokenLen = 32
	// MaxTokenLen bounds a token so that it fits a header line.
	MaxTokenLen = 4096
	// DefaultRotationGrace is how long Tokens keeps accepting the token
	// it replaced. A gateway reads the new one from a mounted Secret,
	// which the kubelet refreshes within its sync period plus its cache's
	// TTL (about a minute each by default), and a TokenFile rereads within
	// DefaultTokenRecheck after that.
	DefaultRotationGrace = 3 * time.Minute
	// refusedLogEvery: a refused request is logged at most this often
	// per reason, with the count of those left out since, so a client
	// retrying without a token twice a second cannot flood the log.
	refusedLogEvery = 10 * time.Second
)

// CheckToken says what is wrong with a token, if anything: it must be
// long enough not to be guessed, and fit a header as it is.
func CheckToken(t string) error {
	switch {
	case len(t) < MinTokenLen:
		return fmt.Errorf("the report token has %d characters, fewer than %d: a short token can be guessed", len(t), MinTokenLen)
	case len(t) > MaxTokenLen:
		return fmt.Errorf("the report token has %d characters, more than %d", len(t), MaxTokenLen)
	}
	for i, c := range []byte(t) {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("the report token has a byte %#x at offset %d: only visible ASCII characters, no spaces, fit an Authorization header", c, i)
		}
	}
	return nil
}

// TokensOptions configure Tokens.
type TokensOptions struct {
	// Grace is how long a replaced token stays accepted. 0 means
	// DefaultRotationGrace; a negative value, not at all.
	Grace time.Duration
	// Clock ends the grace. nil means the real clock.
	Clock clock.PassiveClock
}

// Tokens are the tokens a controller accepts: the current one, and for
// Grace after a rotation the one it replaced, so gateways that have not
// yet read the new one keep reporting. Safe for concurrent use.
type Tokens struct {
	grace time.Duration
	clock clock.PassiveClock

	mu            sync.Mutex
	current       [sha256.Size]byte // digests, compared in constant time
	previous      [sha256.Size]byte
	previousUntil time.Time // zero: no previous token
}

// NewTokens returns Tokens that accept token, or an error saying what is
// wrong with it.
func NewTokens(token string, opts TokensOptions) (*Tokens, error) {
	if err := CheckToken(token); err != nil {
		return nil, err
	}
	t := &Tokens{grace: opts.Grace, clock: opts.Clock, current: sha256.Sum256([]byte(token))}
	if t.grace == 0 {
		t.grace = DefaultRotationGrace
	}
	if t.clock == nil {
		t.clock = clock.RealClock{}
	}
	return t, nil
}

// Set makes token the current one; the one it replaces stays accepted
// for Grace. It reports whether the token changed, and refuses one
// CheckToken refuses, keeping the current.
func (t *Tokens) Set(token string) (changed bool, err error) {
	if err := CheckToken(token); err != nil {
		return false, err
	}
	sum := sha256.Sum256([]byte(token))
	t.mu.Lock()
	defer t.mu.Unlock()
	if sum == t.current {
		return false, nil
	}
	t.previous, t.current = t.current, sum
	if t.grace > 0 {
		t.previousUntil = t.clock.Now().Add(t.grace)
	}
	return true, nil
}

// Valid reports whether presented is an accepted token. Both digests are
// compared in full whatever the first answers, so the time taken says
// nothing of the token, not even its length.
func (t *Tokens) Valid(presented string) bool {
	sum := sha256.Sum256([]byte(presented))
	t.mu.Lock()
	cur, prev, until := t.current, t.previous, t.previousUntil
	t.mu.Unlock()
	ok := subtle.ConstantTimeCompare(sum[:], cur[:])
	okPrev := subtle.ConstantTimeCompare(sum[:], prev[:])
	if until.IsZero() || !t.clock.Now().Before(until) {
		okPrev = 0
	}
	return ok|okPrev == 1
}

// Reasons a request is refused, the values of wake_demand_refused_total's
// reason label.
const (
	RefusedMissing = "missing" // no "Authorization: Bearer" header: 401
	RefusedInvalid = "invalid" // a token that is not accepted: 403
)

// GuardOptions configure a Guard.
type GuardOptions struct {
	// Tokens are the accepted tokens. Required.
	Tokens *Tokens
	// Registerer takes wake_demand_refused_total. nil means the counter
	// is kept but not exported.
	Registerer prometheus.Registerer
	// Clock spaces the log lines. nil means the real clock.
	Clock clock.PassiveClock
	// Logger: nil means no logs.
	Logger *zap.Logger
}

// Guard authenticates the gateways' reports and wake-ups before they
// reach the collector, or the leader through a standby: a request without
// an accepted token is answered 401 or 403 and counted, and goes no
// further, so it records nothing and wakes nothing.
//
// An accepted request costs one SHA-256 of its token and two 32-byte
// constant-time compares, under no lock held past a copy.
type Guard struct {
	tokens  *Tokens
	refused *prometheus.CounterVec
	clock   clock.PassiveClock
	log     *zap.Logger

	mu      sync.Mutex
	logged  map[string]time.Time // reason → when last logged
	skipped map[string]int       // reason → refusals not logged since
}

// NewGuard returns a Guard. It panics when Tokens is nil, a wiring bug,
// and returns the Registerer's error when the counter is already
// registered.
func NewGuard(opts GuardOptions) (*Guard, error) {
	if opts.Tokens == nil {
		panic("demand: GuardOptions.Tokens is required")
	}
	g := &Guard{
		tokens: opts.Tokens, clock: opts.Clock, log: opts.Logger,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wake_demand_refused_total",
			Help: "Reports and wake-ups the controller refused, by reason: missing (no bearer token) or invalid (a token it does not accept).",
		}, []string{"reason"}),
		logged:  map[string]time.Time{},
		skipped: map[string]int{},
	}
	// Both series exist from the start, so a rate() sees the first refusal.
	g.refused.WithLabelValues(RefusedMissing)
	g.refused.WithLabelValues(RefusedInvalid)
	if g.clock == nil {
		g.clock = clock.RealClock{}
	}
	if g.log == nil {
		g.log = zap.NewNop()
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(g.refused); err != nil {
			return nil, fmt.Errorf("demand: registering wake_demand_refused_total: %w", err)
		}
	}
	return g, nil
}

// Wrap returns next behind the guard.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, found := bearer(r.Header.Get("Authorization"))
		switch {
		case !found:
			g.refuse(r, RefusedMissing)
			w.Header().Set("WWW-Authenticate", `Bearer realm="wake-demand"`)
			http.Error(w, "demand: no report token: send Authorization: Bearer TOKEN, the token the controllers share with the gateways", http.StatusUnauthorized)
		case !g.tokens.Valid(token):
			g.refuse(r, RefusedInvalid)
			http.Error(w, "demand: the report token is not accepted (a rotation not yet read from the gateway's token file?)", http.StatusForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header;
// the scheme is case-insensitive (RFC 9110, section 11.1).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// refuse counts a refusal and logs it unless one of its reason was
// logged within refusedLogEvery.
func (g *Guard) refuse(r *http.Request, reason string) {
	g.refused.WithLabelValues(reason).Inc()
	now := g.clock.Now()
	g.mu.Lock()
	last, seen := g.logged[reason]
	if seen && now.Sub(last) < refusedLogEvery {
		g.skipped[reason]++
		g.mu.Unlock()
		return
	}
	skipped := g.skipped[reason]
	g.logged[reason], g.skipped[reason] = now, 0
	g.mu.Unlock()
	g.log.Warn("refused a report or wake-up without an accepted token",
		zap.String("reason", reason), zap.String("remote", r.RemoteAddr), zap.String("path", r.URL.Path),
		zap.Int("refusedUnlogged", skipped))
}
