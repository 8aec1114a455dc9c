package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/runtime"
)

// MaxManifestBytes bounds an apply request's body.
const MaxManifestBytes = 8 << 20

// Info is what the admin API tells clients about the platform.
type Info struct {
	// HTTPAddr is where the data plane listens; `wake invoke` sends there.
	HTTPAddr string `json:"httpAddr"`
	Domain   string `json:"domain"`
	Version  string `json:"version,omitempty"`
}

// AdminOptions configure the admin API.
type AdminOptions struct {
	ControlPlane *ControlPlane       // required
	Logs         runtime.LogReader   // nil means logs are not available
	Gatherer     prometheus.Gatherer // nil means no /metrics
	Info         Info
	Logger       *zap.Logger // nil means no logs
	// Token is the bearer token every request but /healthz must carry
	// (Authorization: Bearer TOKEN). "" means requests need no token: only
	// for an admin API that nothing but this machine can reach.
	Token string
}

// apiPrefix is where the resources live, Kubernetes style.
const apiPrefix = "/apis/wake.dev/v1"

// NewAdminHandler returns the admin API: apply, get, traffic, delete, logs,
// metrics and health. Everything but /healthz needs opts.Token.
func NewAdminHandler(opts AdminOptions) http.Handler {
	a := &admin{cp: opts.ControlPlane, logs: opts.Logs, info: opts.Info, log: opts.Logger}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	if opts.Gatherer != nil {
		r.Handle("/metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	}
	v1 := r.PathPrefix(apiPrefix).Subrouter()
	v1.HandleFunc("/info", a.getInfo).Methods(http.MethodGet)
	v1.HandleFunc("/apply", a.apply).Methods(http.MethodPost)
	v1.HandleFunc("/functions", a.listFunctions).Methods(http.MethodGet)
	v1.HandleFunc("/revisions", a.listRevisions).Methods(http.MethodGet)
	ns := v1.PathPrefix("/namespaces/{namespace}").Subrouter()
	ns.HandleFunc("/functions", a.listFunctions).Methods(http.MethodGet)
	ns.HandleFunc("/functions/{name}", a.getFunction).Methods(http.MethodGet)
	ns.HandleFunc("/functions/{name}", a.deleteFunction).Methods(http.MethodDelete)
	ns.HandleFunc("/functions/{name}/traffic", a.putTraffic).Methods(http.MethodPut)
	ns.HandleFunc("/functions/{name}/logs", a.getLogs).Methods(http.MethodGet)
	ns.HandleFunc("/functions/{name}/rollout", a.getRollout).Methods(http.MethodGet)
	ns.HandleFunc("/functions/{name}/rollout/{action}", a.postRollout).Methods(http.MethodPost)
	ns.HandleFunc("/revisions", a.listRevisions).Methods(http.MethodGet)
	ns.HandleFunc("/revisions/{name}", a.getRevision).Methods(http.MethodGet)
	if opts.ControlPlane.opts.Triggers != nil {
		v1.HandleFunc("/triggers", a.listTriggers).Methods(http.MethodGet)
		ns.HandleFunc("/triggers", a.listTriggers).Methods(http.MethodGet)
		ns.HandleFunc("/triggers/{name}", a.getTrigger).Methods(http.MethodGet)
		ns.HandleFunc("/triggers/{name}", a.deleteTrigger).Methods(http.MethodDelete)
		ns.HandleFunc("/triggers/{name}/rate", a.putRate).Methods(http.MethodPut)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("no such admin API path: %s %s", r.Method, r.URL.Path), nil)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path), nil)
	})
	return toConsole(notFromBrowsers(requireToken(opts.Token, a.log, r)))
}

// consolePath is where wake serve mounts the web console on the admin
// listener (console.Prefix; the console imports this package).
const consolePath = "/ui/"

// toConsole sends a browser that opens the admin address (GET / that
// accepts HTML and carries no bearer token) to the web console, whose
// login it can use; the CLI and other API clients keep the API's answers.
func toConsole(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			r.Header.Get("Authorization") == "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.Redirect(w, r, consolePath, http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// notFromBrowsers refuses what a web page could send to the admin API
// behind its user's back: a request carrying an Origin (browsers add it to
// every cross-site or scripted write), a body typed as a form, or a Host
// that is a name other than localhost (DNS rebinding points a site's name
// at 127.0.0.1). The admin API applies manifests, which run commands: a
// page must not be able to. The CLI sends none of these.
func notFromBrowsers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			writeProblem(w, http.StatusForbidden, "the admin API takes no requests from web pages (Origin is set)", nil)
			return
		}
		if !TrustedHost(r.Host) {
			writeProblem(w, http.StatusForbidden, fmt.Sprintf(
				"the admin API answers only to an IP address or localhost, not %q", r.Host), nil)
			return
		}
		switch ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct {
		case "text/plain", "application/x-www-form-urlencoded", "multipart/form-data":
			writeProblem(w, http.StatusUnsupportedMediaType, fmt.Sprintf(
				"Content-Type %s is not taken: send application/yaml or application/json", ct), nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TrustedHost is true for an IP address or a localhost name, with or
// without a port: what a DNS rebinding attack cannot put in a browser's
// Host header.
func TrustedHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost")
}

type admin struct {
	cp      *ControlPlane
	logs    runtime.LogReader
	info    Info
	log     *zap.Logger
	checked checkedManifests // dry runs' documents, for the applies that follow
}

// Problem is the body of every error the admin API returns.
type Problem struct {
	Code    int        `json:"code"`
	Message string     `json:"message"`
	Errors  api.Errors `json:"errors,omitempty"`
}

func writeProblem(w http.ResponseWriter, code int, msg string, errs api.Errors) {
	writeJSON(w, code, Problem{Code: code, Message: msg, Errors: errs})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError maps an error to its status: validation problems are 400 with
// every problem listed, missing objects 404.
func (a *admin) writeError(w http.ResponseWriter, err error) {
	var problems api.Errors
	var invalid *InvalidError
	switch {
	case errors.As(err, &invalid): // says it in the words of its request
		writeProblem(w, http.StatusBadRequest, invalid.Message, nil)
	case errors.As(err, &problems):
		writeProblem(w, http.StatusBadRequest, fmt.Sprintf("%d problem(s) in the manifest", len(problems)), problems)
	case errors.Is(err, ErrNotFound):
		writeProblem(w, http.StatusNotFound, err.Error(), nil)
	case errors.Is(err, ErrConflict):
		writeProblem(w, http.StatusConflict, err.Error(), nil)
	default:
		a.log.Error("admin request failed", zap.Error(err))
		writeProblem(w, http.StatusInternalServerError, err.Error(), nil)
	}
}

func (a *admin) getInfo(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, a.info) }

// apply takes manifests (YAML or JSON; several documents) in the body.
// Query: source names the file for error messages, dir its directory;
// dryRun=true checks them, stores nothing and answers every problem (wake
// apply checks each of its files before it applies any). A manifest of
// no objects is a problem, as kubectl makes it.
func (a *admin) apply(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxManifestBytes))
	if err != nil {
		writeProblem(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("reading the manifest: %v (the limit is %d bytes)", err, MaxManifestBytes), nil)
		return
	}
	q := r.URL.Query()
	dryRun := q.Get("dryRun") == "true"
	var docs []*api.Document
	ok := false
	if !dryRun {
		docs, ok = a.checked.take(q.Get("source"), body)
	}
	if !ok {
		docs, err = api.Decode(q.Get("source"), body)
	}
	if err == nil && len(docs) == 0 {
		// kubectl's words; wake apply says them of each empty file.
		a.writeError(w, api.Errors{{Source: q.Get("source"), Message: "no objects passed to apply"}})
		return
	}
	if err != nil || dryRun {
		// Every problem, of the documents that did decode too.
		if err := a.cp.Problems(docs, err); err != nil {
			a.writeError(w, err)
			return
		}
	}
	if dryRun {
		a.checked.put(q.Get("source"), body, docs)
		writeJSON(w, http.StatusOK, ApplyResult{Functions: []api.Function{}, Triggers: []api.Trigger{}})
		return
	}
	applied, err := a.cp.Apply(r.Context(), docs, ApplyOptions{BaseDir: q.Get("dir")})
	if err != nil {
		a.writeError(w, err)
		return
	}
	res := ApplyResult{Functions: []api.Function{}, Triggers: []api.Trigger{}}
	for _, fn := range applied.Functions {
		res.Functions = append(res.Functions, *fn)
	}
	for _, t := range applied.Triggers {
		res.Triggers = append(res.Triggers, *t)
	}
	for _, k := range applied.Unchanged {
		res.Unchanged = append(res.Unchanged, k.String())
	}
	writeJSON(w, http.StatusOK, res)
}

// ApplyResult is the body of a successful apply: what it stored, with
// status.
type ApplyResult struct {
	Functions []api.Function `json:"functions"`
	Triggers  []api.Trigger  `json:"triggers"`
	// Unchanged names, as NAMESPACE/NAME, the functions that were stored
	// as the manifests have them already (`wake apply` says "unchanged").
	Unchanged []string `json:"unchanged,omitempty"`
}

func functionList(fns []*api.Function) *api.FunctionList {
	l := &api.FunctionList{TypeMeta: metav1.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindFunctionList}, Items: []api.Function{}}
	for _, fn := range fns {
		l.Items = append(l.Items, *fn)
	}
	return l
}

// listFunctions lists functions; ?limit=N&continue=TOKEN page them as
// the Kubernetes API does (paging.go).
func (a *admin) listFunctions(w http.ResponseWriter, r *http.Request) {
	opts, ok := listOptions(w, r)
	if !ok {
		return
	}
	fns, page, err := a.cp.FunctionsPage(mux.Vars(r)["namespace"], opts)
	if err != nil {
		a.writeError(w, err)
		return
	}
	l := functionList(fns)
	l.ListMeta = listMeta(page)
	writeJSON(w, http.StatusOK, l)
}

// listOptions reads ?limit=, ?continue= and ?labelSelector=, and answers
// 400 naming a bad limit or selector.
func listOptions(w http.ResponseWriter, r *http.Request) (ListOptions, bool) {
	q := r.URL.Query()
	opts := ListOptions{Continue: q.Get("continue")}
	if s := q.Get("labelSelector"); s != "" {
		sel, err := labels.Parse(s)
		if err != nil {
			writeProblem(w, http.StatusBadRequest, fmt.Sprintf("labelSelector: %q: %v", s, err), nil)
			return opts, false
		}
		opts.Selector = sel
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeProblem(w, http.StatusBadRequest, fmt.Sprintf("limit: must be a number of items, 0 or more, got %q", s), nil)
			return opts, false
		}
		opts.Limit = n
	}
	return opts, true
}

// listMeta is a page's metadata: continue and remainingItemCount, only
// when more remain (so that an unpaged list's JSON is as before).
func listMeta(page ListPage) metav1.ListMeta {
	if page.Continue == "" {
		return metav1.ListMeta{}
	}
	n := page.Remaining
	return metav1.ListMeta{Continue: page.Continue, RemainingItemCount: &n}
}

func functionKey(r *http.Request) api.FunctionKey {
	v := mux.Vars(r)
	return api.FunctionKey{Namespace: v["namespace"], Name: v["name"]}
}

func (a *admin) getFunction(w http.ResponseWriter, r *http.Request) {
	fn, err := a.cp.Function(functionKey(r))
	if err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, fn)
}

func (a *admin) deleteFunction(w http.ResponseWriter, r *http.Request) {
	if err := a.cp.DeleteFunction(r.Context(), functionKey(r)); err != nil {
		a.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TrafficRequest is the body of PUT .../functions/NAME/traffic.
type TrafficRequest struct {
	Traffic []api.TrafficTarget `json:"traffic"`
}

func (a *admin) putTraffic(w http.ResponseWriter, r *http.Request) {
	var req TrafficRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxManifestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeProblem(w, http.StatusBadRequest, fmt.Sprintf("reading the traffic: %v", err), nil)
		return
	}
	fn, err := a.cp.SetTraffic(r.Context(), functionKey(r), req.Traffic)
	if err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, fn)
}

func revisionList(revs []*api.Revision) *api.RevisionList {
	l := &api.RevisionList{TypeMeta: metav1.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindRevisionList}, Items: []api.Revision{}}
	for _, r := range revs {
		l.Items = append(l.Items, *r)
	}
	return l
}

// listRevisions lists revisions, of one function with ?function=, paged
// as listFunctions.
func (a *admin) listRevisions(w http.ResponseWriter, r *http.Request) {
	opts, ok := listOptions(w, r)
	if !ok {
		return
	}
	revs, page, err := a.cp.RevisionsPage(mux.Vars(r)["namespace"], r.URL.Query().Get("function"), opts)
	if err != nil {
		a.writeError(w, err)
		return
	}
	l := revisionList(revs)
	l.ListMeta = listMeta(page)
	writeJSON(w, http.StatusOK, l)
}

// getRevision returns one revision; ?decisions=true adds the autoscaler's
// recent decisions to its status.
func (a *admin) getRevision(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	rev, err := a.cp.Revision(api.RevisionKey{Namespace: v["namespace"], Name: v["name"]}, r.URL.Query().Get("decisions") == "true")
	if err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rev)
}

// getLogs streams a function's instance output (StreamLogs): of one
// revision (?revision=), else of every revision, or with ?follow=true of
// those with traffic or a tag, joined by any that gains some. ?tail=N
// keeps the last N lines of them all, merged by time.
func (a *admin) getLogs(w http.ResponseWriter, r *http.Request) {
	if a.logs == nil {
		writeProblem(w, http.StatusNotImplemented, "this runtime keeps no logs", nil)
		return
	}
	key := functionKey(r)
	q := r.URL.Query()
	opts := LogStreamOptions{Reader: a.logs, Follow: q.Get("follow") == "true"}
	if t := q.Get("tail"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			writeProblem(w, http.StatusBadRequest, fmt.Sprintf("tail: must be a number of lines, got %q", t), nil)
			return
		}
		opts.Tail = n
	}
	if _, err := a.cp.Function(key); err != nil {
		a.writeError(w, err)
		return
	}
	opts.Revisions = func() ([]api.RevisionKey, error) { return a.cp.LogRevisions(key, opts.Follow) }
	if name := q.Get("revision"); name != "" {
		rev, err := a.cp.Revision(api.RevisionKey{Namespace: key.Namespace, Name: name}, false)
		if err != nil || rev.FunctionName() != key.Name {
			writeProblem(w, http.StatusNotFound, fmt.Sprintf("%s is not a revision of %s", name, key), nil)
			return
		}
		opts.Revisions = func() ([]api.RevisionKey, error) { return []api.RevisionKey{rev.Key()}, nil }
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	out := FlushWriter(w)
	if err := StreamLogs(r.Context(), opts, out); err != nil && r.Context().Err() == nil {
		fmt.Fprintf(out, "wake: reading logs of %s: %v\n", key, err)
	}
}

// FlushWriter returns a writer that pushes every write to the client at
// once, for streaming output (logs) as it comes.
func FlushWriter(w http.ResponseWriter) io.Writer {
	return &flushWriter{w: w, rc: http.NewResponseController(w)}
}

type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}
