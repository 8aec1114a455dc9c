package console

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/runtime"
)

// Platform is what the console reads and edits: the control plane.
type Platform interface {
	Functions(namespace string) []*api.Function
	Function(key api.FunctionKey) (*api.Function, error)
	// Revisions carry the autoscaler's view; Revision with decisions adds
	// its recent decisions, settings and the revision's cold starts.
	Revisions(namespace, function string) []*api.Revision
	Revision(key api.RevisionKey, decisions bool) (*api.Revision, error)
	Triggers(namespace string) []*api.Trigger
	// LogRevisions lists the revisions whose output a function's logs
	// show (controlplane.ControlPlane.LogRevisions): with follow, those
	// that take requests now.
	LogRevisions(key api.FunctionKey, follow bool) ([]api.RevisionKey, error)
	SetTraffic(ctx context.Context, key api.FunctionKey, traffic []api.TrafficTarget) (*api.Function, error)
	SetRateLimit(key api.TriggerKey, perSecond *float64) (*api.Trigger, error)
}

var _ Platform = (*controlplane.ControlPlane)(nil)

// DataPlane is what the console reads from where requests pass: the
// activator.
type DataPlane interface {
	Outcomes(rev api.RevisionKey) activator.Outcomes
	ColdStarts(rev api.RevisionKey) []activator.ColdStart
}

// Options configure a Console.
type Options struct {
	Platform Platform // required
	// Data is this process's activator; nil when requests pass elsewhere,
	// and then the console shows no requests/s, latency or cold starts.
	Data DataPlane
	// Logs reads instance output; nil means the console shows none.
	Logs runtime.LogReader
	// Token is the admin API's token, which the login page takes. "" means
	// no login: only for an admin listener nothing but this machine can
	// reach (the console then answers only to an IP address or localhost,
	// against DNS rebinding).
	Token string
	// Changes signals that the platform changed (a revision's instances
	// or readiness, the routes): open pages are updated then, at most
	// every MinGap, rather than at the next Interval. Nil means at each
	// Interval only.
	Changes <-chan struct{}
	// Interval is how often the stream looks for changes it was not told
	// of (requests/s, the autoscaler's view, triggers' counts); 0 means
	// DefaultInterval. Rates are sampled every RateStep; the charts'
	// points are the autoscaler's, one per decision that changed a count
	// or an average.
	Interval time.Duration
	// SessionTTL is how long a login lasts; 0 means DefaultSessionTTL.
	SessionTTL time.Duration
	Clock      clock.WithTicker // nil means the real clock
	Logger     *zap.Logger      // nil means no logs
}

// Defaults.
const (
	// DefaultInterval is the pages' pace for what changes all the time.
	DefaultInterval = time.Second
	// MinGap bounds the sampling that Changes may ask for: under a storm
	// of changes (a revision scaling out by hundreds) the pages update ten
	// times a second, not once a change. One sample over 1,000 functions
	// costs about 20 ms on these machines (BenchmarkSample).
	MinGap = 100 * time.Millisecond
	// RateStep is the step of the requests/s and latency windows.
	RateStep = time.Second
	// DefaultSessionTTL is a working day.
	DefaultSessionTTL = 12 * time.Hour
)

// Prefix is where the console lives on the admin listener.
const Prefix = "/ui/"

//go:embed assets
var assets embed.FS

// Console serves the pages and their stream. It is an http.Handler for
// Prefix (and "/ui", which it redirects).
type Console struct {
	opts     Options
	log      *zap.Logger
	clock    clock.WithTicker
	sessions *sessions
	hub      *hub
	static   http.Handler

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: streams end
}

// New returns a console.
func New(opts Options) *Console {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	c := &Console{opts: opts, log: opts.Logger, clock: opts.Clock, closed: make(chan struct{})}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	c.sessions = newSessions(c.clock, opts.SessionTTL)
	c.hub = newHub(c)
	sub, _ := fs.Sub(assets, "assets")
	c.static = http.StripPrefix(Prefix+"assets/", http.FileServerFS(sub))
	return c
}

// Close ends every stream, so that a server shutting down is not held up
// by pages left open, and stops the sampler.
func (c *Console) Close() {
	c.closeOnce.Do(func() { close(c.closed) })
	c.hub.stopSampler()
}

// ServeHTTP routes a request under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The pages load only their own scripts and styles and talk only to
	// this server; no other site may frame them.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer Chromium sends
	// "Origin: null" with the login form, which sameOrigin must refuse.
	h.Set("Referrer-Policy", "same-origin")
	if c.opts.Token == "" && !controlplane.TrustedHost(r.Host) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("the console has no login here, so it answers only to an IP address or localhost, not %q", r.Host), nil)
		return
	}
	path := r.URL.Path
	switch {
	case path == "/ui":
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
	case path == Prefix+"login":
		c.login(w, r)
	case path == Prefix+"logout":
		c.logout(w, r)
	case strings.HasPrefix(path, Prefix+"assets/"):
		// The scripts and styles hold no data: the login page needs them.
		c.static.ServeHTTP(w, r)
	case !c.loggedIn(r):
		if strings.HasPrefix(path, Prefix+"api/") {
			writeError(w, http.StatusUnauthorized, "not logged in to the console: log in at "+Prefix+"login with the admin API's token", nil)
			return
		}
		http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
	case path == Prefix:
		h.Set("Cache-Control", "no-store")
		serveAsset(w, r, "index.html")
	case strings.HasPrefix(path, Prefix+"api/"):
		c.serveAPI(w, r, strings.TrimPrefix(path, Prefix+"api/"))
	default:
		writeError(w, http.StatusNotFound, "no such console page: "+path, nil)
	}
}

// serveAPI answers the pages' calls: the stream, logs and the edits.
func (c *Console) serveAPI(w http.ResponseWriter, r *http.Request, path string) {
	parts := strings.Split(path, "/")
	var want string
	var serve func()
	switch {
	case path == "session":
		want, serve = http.MethodGet, func() { writeJSON(w, http.StatusOK, map[string]bool{"login": c.opts.Token != ""}) }
	case path == "stream":
		want, serve = http.MethodGet, func() { c.stream(w, r) }
	case path == "logs":
		want, serve = http.MethodGet, func() { c.logs(w, r) }
	case len(parts) == 4 && parts[0] == "functions" && parts[3] == "traffic":
		want, serve = http.MethodPut, func() { c.putTraffic(w, r, api.FunctionKey{Namespace: parts[1], Name: parts[2]}) }
	case len(parts) == 4 && parts[0] == "triggers" && parts[3] == "rate":
		want, serve = http.MethodPut, func() { c.putRate(w, r, api.TriggerKey{Namespace: parts[1], Name: parts[2]}) }
	default:
		writeError(w, http.StatusNotFound, "no such console call: "+r.URL.Path, nil)
		return
	}
	if r.Method != want {
		w.Header().Set("Allow", want)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s (%s is)", r.Method, r.URL.Path, want), nil)
		return
	}
	serve()
}

func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

// problem is the body of every error the console's calls return; Errors
// are rendered as the CLI prints them (path: message).
type problem struct {
	Code    int      `json:"code"`
	Message string   `json:"message"`
	Errors  []string `json:"errors,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string, errs api.Errors) {
	p := problem{Code: code, Message: msg}
	for _, e := range errs {
		p.Errors = append(p.Errors, e.String())
	}
	writeJSON(w, code, p)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
