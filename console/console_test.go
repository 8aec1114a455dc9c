package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/wakefn/wake/activator"
	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/latency"
)

const token = "s3cret-token"

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

// platform is a hand-written Platform: one function, "hello", with the
// revisions and triggers a test gives it.
type platform struct {
	mu      sync.Mutex
	fn      *api.Function
	revs    []*api.Revision
	trigs   []*api.Trigger
	traffic []api.TrafficTarget // the last SetTraffic
	trace   []api.ScalingPoint  // the revision's autoscaling trace, a point a second from t0
}

func newPlatform() *platform {
	yes, hundred := true, int64(100)
	fn := &api.Function{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hello"}}
	fn.Spec.Traffic = []api.TrafficTarget{{LatestRevision: &yes, Percent: &hundred}}
	fn.Status = api.FunctionStatus{URL: "http://hello.default.localhost", LatestReadyRevisionName: "hello-00001",
		LatestCreatedRevisionName: "hello-00001",
		Traffic:                   []api.TrafficTarget{{RevisionName: "hello-00001", LatestRevision: &yes, Percent: &hundred}},
		Conditions:                []api.Condition{{Type: api.ConditionReady, Status: api.ConditionTrue}}}
	rev := &api.Revision{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hello-00001",
		Labels: map[string]string{api.LabelFunction: "hello"}, CreationTimestamp: metav1.NewTime(t0)}}
	rev.Status.Autoscaling = &api.AutoscalingStatus{Metric: "concurrency", Target: 70}
	return &platform{fn: fn, revs: []*api.Revision{rev}, trace: []api.ScalingPoint{{Time: metav1.NewMicroTime(t0)}}}
}

func (p *platform) setReady(n int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revs[0].Status.ActualReplicas, p.revs[0].Status.DesiredReplicas = n, n
	p.revs[0].Status.Autoscaling.ObservedStable = float64(n) / 2
	p.trace = append(p.trace, api.ScalingPoint{Time: metav1.NewMicroTime(t0.Add(time.Duration(len(p.trace)) * time.Second)),
		Stable: float64(n) / 2, Desired: n, Ready: n})
}

func (p *platform) Functions(string) []*api.Function {
	p.mu.Lock()
	defer p.mu.Unlock()
	return []*api.Function{p.fn.DeepCopy()}
}

func (p *platform) Function(key api.FunctionKey) (*api.Function, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if key != p.fn.Key() {
		return nil, controlplane.ErrNotFound
	}
	return p.fn.DeepCopy(), nil
}

func (p *platform) Revisions(string, string) []*api.Revision {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*api.Revision
	for _, r := range p.revs {
		out = append(out, r.DeepCopy())
	}
	return out
}

func (p *platform) Revision(key api.RevisionKey, decisions bool) (*api.Revision, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.revs {
		if r.Key() == key {
			out := r.DeepCopy()
			if decisions {
				out.Status.Autoscaling.Decisions = []api.ScalingDecision{{From: 0, To: 1, Reason: "activation: 1 waiting"}}
				out.Status.Autoscaling.Trace = append([]api.ScalingPoint(nil), p.trace...)
			}
			return out, nil
		}
	}
	return nil, controlplane.ErrNotFound
}

func (p *platform) Triggers(string) []*api.Trigger {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.trigs
}

// LogRevisions lists, as the control plane does with follow, the
// revisions with a share or a tag.
func (p *platform) LogRevisions(key api.FunctionKey, _ bool) ([]api.RevisionKey, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if key != p.fn.Key() {
		return nil, controlplane.ErrNotFound
	}
	var out []api.RevisionKey
	for _, r := range p.revs {
		for _, t := range p.fn.Status.Traffic {
			if t.RevisionName == r.Name && (t.PercentOrZero() > 0 || t.Tag != "") {
				out = append(out, r.Key())
				break
			}
		}
	}
	return out, nil
}

// SetTraffic checks the sum as the control plane does (api's validation).
func (p *platform) SetTraffic(_ context.Context, key api.FunctionKey, traffic []api.TrafficTarget) (*api.Function, error) {
	if key.Name != "hello" {
		return nil, controlplane.ErrNotFound
	}
	var sum int64
	for _, t := range traffic {
		sum += t.PercentOrZero()
	}
	if sum != 100 {
		return nil, api.NewErrors(field.ErrorList{field.Invalid(field.NewPath("spec", "traffic"), sum, "must sum to 100")})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.traffic = traffic
	return p.fn.DeepCopy(), nil
}

func (p *platform) SetRateLimit(key api.TriggerKey, r *float64) (*api.Trigger, error) {
	return nil, controlplane.ErrNotFound
}

// data is a hand-written DataPlane: counts the test sets.
type data struct {
	mu       sync.Mutex
	outcomes activator.Outcomes
	colds    []activator.ColdStart
}

func (d *data) Outcomes(api.RevisionKey) activator.Outcomes {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.outcomes
}

func (d *data) ColdStarts(api.RevisionKey) []activator.ColdStart {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.colds
}

type fixture struct {
	t     *testing.T
	clock *clocktesting.FakeClock
	p     *platform
	d     *data
	c     *Console
	srv   *httptest.Server
	// changes is the console's Changes: what the control plane signals.
	changes chan struct{}
}

func newFixture(t *testing.T, tok string) *fixture {
	f := &fixture{t: t, clock: clocktesting.NewFakeClock(t0), p: newPlatform(), d: &data{}, changes: make(chan struct{}, 1)}
	f.c = New(Options{Platform: f.p, Data: f.d, Token: tok, Clock: f.clock, Changes: f.changes})
	f.srv = httptest.NewServer(f.c)
	t.Cleanup(func() { f.c.Close(); f.srv.Close() })
	return f
}

// client returns an HTTP client that keeps cookies and does not follow
// redirects, so that a test sees each answer.
func (f *fixture) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (f *fixture) do(c *http.Client, method, path, contentType, body string, header ...string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (f *fixture) login(c *http.Client) *http.Response {
	f.t.Helper()
	res, _ := f.do(c, http.MethodPost, "/ui/login", "application/x-www-form-urlencoded", url.Values{"token": {token}}.Encode())
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/" {
		f.t.Fatalf("login with the token: %d to %q, want 303 to /ui/", res.StatusCode, res.Header.Get("Location"))
	}
	return res
}

func TestWithoutSessionNothingButTheLogin(t *testing.T) {
	f := newFixture(t, token)
	c := f.client()
	tests := []struct {
		name, method, path string
		want               int
		location           string
	}{
		{"the console page", http.MethodGet, "/ui/", http.StatusSeeOther, "/ui/login"},
		{"the stream", http.MethodGet, "/ui/api/stream", http.StatusUnauthorized, ""},
		{"a function's stream", http.MethodGet, "/ui/api/stream?function=default/hello", http.StatusUnauthorized, ""},
		{"logs", http.MethodGet, "/ui/api/logs?function=default/hello", http.StatusUnauthorized, ""},
		{"a traffic edit", http.MethodPut, "/ui/api/functions/default/hello/traffic", http.StatusUnauthorized, ""},
		{"a rate edit", http.MethodPut, "/ui/api/triggers/default/t/rate", http.StatusUnauthorized, ""},
		{"an unknown page", http.MethodGet, "/ui/secret", http.StatusSeeOther, "/ui/login"},
		{"the login page", http.MethodGet, "/ui/login", http.StatusOK, ""},
		{"the script", http.MethodGet, "/ui/assets/app.js", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := f.do(c, tt.method, tt.path, "application/json", `{"traffic":[]}`)
			if res.StatusCode != tt.want || res.Header.Get("Location") != tt.location {
				t.Errorf("%s %s: %d to %q, want %d to %q", tt.method, tt.path, res.StatusCode, res.Header.Get("Location"), tt.want, tt.location)
			}
			if strings.Contains(body, "hello-00001") {
				t.Errorf("%s %s without a session showed data: %s", tt.method, tt.path, body)
			}
		})
	}
	if f.p.traffic != nil {
		t.Errorf("an edit without a session changed the split to %+v", f.p.traffic)
	}
}

func TestLoginSetsAStrictHttpOnlyCookie(t *testing.T) {
	f := newFixture(t, token)
	c := f.client()
	res, body := f.do(c, http.MethodPost, "/ui/login", "application/x-www-form-urlencoded", "token=wrong")
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not this server&#39;s admin token") || len(res.Cookies()) != 0 {
		t.Fatalf("a wrong token: %d, cookies %v, page %s", res.StatusCode, res.Cookies(), body)
	}
	res = f.login(c)
	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login set %d cookies, want 1", len(cookies))
	}
	ck := cookies[0]
	if ck.Name != cookieName || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/ui/" || ck.Value == "" || strings.Contains(ck.Value, token) {
		t.Errorf("session cookie %+v: want %s, HttpOnly, SameSite=Strict, Path=/ui/, and a value that is not the token", ck, cookieName)
	}
	if res, body := f.do(c, http.MethodGet, "/ui/", "", ""); res.StatusCode != http.StatusOK || !strings.Contains(body, "app.js") {
		t.Errorf("the console with a session: %d %s", res.StatusCode, body)
	}
}

func TestLoginFromAnotherSiteIsRefused(t *testing.T) {
	f := newFixture(t, token)
	c := f.client()
	res, _ := f.do(c, http.MethodPost, "/ui/login", "application/x-www-form-urlencoded", "token="+token, "Origin", "http://attacker.example")
	if res.StatusCode != http.StatusForbidden || len(res.Cookies()) != 0 {
		t.Errorf("a login posted from another site: %d, cookies %v; want 403 and none", res.StatusCode, res.Cookies())
	}
}

func TestSessionsExpireAndEndAtLogout(t *testing.T) {
	f := newFixture(t, token)
	c := f.client()
	f.login(c)
	f.clock.Step(DefaultSessionTTL - time.Second)
	if res, _ := f.do(c, http.MethodGet, "/ui/", "", ""); res.StatusCode != http.StatusOK {
		t.Fatalf("a session before its end: %d", res.StatusCode)
	}
	f.clock.Step(2 * time.Second)
	if res, _ := f.do(c, http.MethodGet, "/ui/", "", ""); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a session past its end: %d, want 303 to the login", res.StatusCode)
	}

	f.login(c)
	if res, _ := f.do(c, http.MethodGet, "/ui/logout", "", ""); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET logout: %d, want 405 (a link must not log out)", res.StatusCode)
	}
	if res, _ := f.do(c, http.MethodPost, "/ui/logout", "", ""); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	// The cookie a logged-out page kept is refused too, not only cleared.
	if len(f.c.sessions.expires) != 0 {
		t.Errorf("%d sessions left after logout", len(f.c.sessions.expires))
	}
}

func TestEditsOnlyFromTheConsolesPages(t *testing.T) {
	f := newFixture(t, token)
	c := f.client()
	f.login(c)
	good := `{"traffic":[{"revisionName":"hello-00001","percent":100}]}`
	tests := []struct {
		name        string
		contentType string
		body        string
		header      []string
		want        int
		problem     string
	}{
		{"a form", "application/x-www-form-urlencoded", "traffic=x", nil, http.StatusUnsupportedMediaType, "send application/json"},
		{"another site's page", "application/json", good, []string{"Origin", "http://attacker.example"}, http.StatusForbidden, "only from its own pages"},
		{"an unknown field", "application/json", `{"traffic":[],"extra":1}`, nil, http.StatusBadRequest, "unknown field"},
		{"a split off 100", "application/json", `{"traffic":[{"revisionName":"hello-00001","percent":90}]}`, nil, http.StatusBadRequest, "spec.traffic: must sum to 100, got 90"},
		{"a good split", "application/json", good, []string{"Origin", f.srv.URL}, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := f.do(c, http.MethodPut, "/ui/api/functions/default/hello/traffic", tt.contentType, tt.body, tt.header...)
			if res.StatusCode != tt.want || !strings.Contains(body, tt.problem) {
				t.Errorf("%d %s; want %d with %q", res.StatusCode, body, tt.want, tt.problem)
			}
		})
	}
	if len(f.p.traffic) != 1 || f.p.traffic[0].PercentOrZero() != 100 {
		t.Errorf("the split set is %+v, want only the good one", f.p.traffic)
	}
	if res, body := f.do(c, http.MethodPut, "/ui/api/functions/default/nope/traffic", "application/json", good); res.StatusCode != http.StatusNotFound {
		t.Errorf("a missing function: %d %s, want 404", res.StatusCode, body)
	}
}

func TestWithoutTokenOnlyLocalNames(t *testing.T) {
	f := newFixture(t, "")
	c := f.client()
	if res, _ := f.do(c, http.MethodGet, "/ui/", "", ""); res.StatusCode != http.StatusOK {
		t.Errorf("no token, 127.0.0.1: %d, want the console", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/ui/", nil)
	req.Host = "rebound.attacker.example"
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("no token, a page reached by another name: %d, want 403 (DNS rebinding)", res.StatusCode)
	}
}

// The admin address opened in a browser is the console (wake serve mounts
// the console at Prefix beside the admin API, as here); the CLI and other
// API clients get the API's own answers.
func TestABrowserAtTheAdminAddressGoesToTheConsole(t *testing.T) {
	c := New(Options{Platform: newPlatform(), Token: token})
	mux := http.NewServeMux()
	mux.Handle(Prefix, c)
	mux.Handle("/", controlplane.NewAdminHandler(controlplane.AdminOptions{ControlPlane: &controlplane.ControlPlane{}, Token: token}))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { c.Close(); srv.Close() })
	browser := "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	tests := []struct {
		name, method, path string
		header             map[string]string
		want               int
		location           string
	}{
		{"a browser", http.MethodGet, "/", map[string]string{"Accept": browser}, http.StatusSeeOther, Prefix},
		{"then the console, to its login", http.MethodGet, Prefix, map[string]string{"Accept": browser}, http.StatusSeeOther, Prefix + "login"},
		{"the CLI", http.MethodGet, "/", nil, http.StatusUnauthorized, ""},
		{"a JSON client", http.MethodGet, "/", map[string]string{"Accept": "application/json"}, http.StatusUnauthorized, ""},
		{"a client with its token", http.MethodGet, "/", map[string]string{"Accept": browser, "Authorization": "Bearer " + token}, http.StatusNotFound, ""},
		{"a browser's post", http.MethodPost, "/", map[string]string{"Accept": browser}, http.StatusUnauthorized, ""},
		{"a browser elsewhere", http.MethodGet, "/apis/wake.dev/v1/functions", map[string]string{"Accept": browser}, http.StatusUnauthorized, ""},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.want || res.Header.Get("Location") != tt.location {
				t.Errorf("%s %s: %d to %q, want %d to %q", tt.method, tt.path, res.StatusCode, res.Header.Get("Location"), tt.want, tt.location)
			}
		})
	}
}

func TestRatesOverTheWindow(t *testing.T) {
	r := newRates()
	key := api.RevisionKey{Namespace: "default", Name: "hello-00001"}
	if w := r.of(key); w.RPS != nil || w.P95 != nil || w.Cold != 0 {
		t.Fatalf("no points: %+v, want nothing", w)
	}
	var o activator.Outcomes
	var warm, cold latency.Histogram
	// 20 s: 5 requests a second, each 10ms, then 100ms from 15 s; and at
	// 17 s three that waited 3 s for instances to start.
	for i := range 21 {
		o.Requests += 5
		for range 5 {
			d := 10 * time.Millisecond
			if i >= 15 {
				d = 100 * time.Millisecond
			}
			warm.Record(d)
		}
		if i == 17 {
			o.Requests += 3
			for range 3 {
				cold.Record(3 * time.Second)
			}
		}
		o.Latency, o.ColdLatency = warm.Snapshot(), cold.Snapshot()
		r.add(key, t0.Add(time.Duration(i)*time.Second), o)
	}
	w := r.of(key)
	// The window holds 10 s: 25 fast, 25 slow and 3 cold requests.
	if w.RPS == nil || *w.RPS != 5.3 {
		t.Errorf("rps %v, want 5.3", w.RPS)
	}
	if w.Cold != 3 {
		t.Errorf("%d cold requests in the window, want 3", w.Cold)
	}
	// The 51st of 53 is cold: the p95 is what clients saw.
	if w.P95 == nil || *w.P95 < 3000 || *w.P95 > 3150 {
		t.Errorf("p95 %v ms, want about 3000 (the cold requests count)", w.P95)
	}
	r.keep(map[api.RevisionKey]bool{})
	if len(r.byRev) != 0 {
		t.Error("a deleted revision's window was kept")
	}
}

func TestCallsAnswerTheirMethodOnly(t *testing.T) {
	f := newFixture(t, token)
	c := f.client()
	f.login(c)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodPut, "/ui/api/session", http.StatusMethodNotAllowed},
		{http.MethodPost, "/ui/api/stream", http.StatusMethodNotAllowed},
		{http.MethodGet, "/ui/api/functions/default/hello/traffic", http.StatusMethodNotAllowed},
		{http.MethodPost, "/ui/api/nothing", http.StatusNotFound},
		{http.MethodGet, "/ui/api/functions/default/hello", http.StatusNotFound},
		{http.MethodGet, "/ui/api/logs?function=default/hello", http.StatusNotImplemented}, // no LogReader here
		{http.MethodGet, "/ui/api/session", http.StatusOK},
	}
	for _, tt := range tests {
		if res, body := f.do(c, tt.method, tt.path, "", ""); res.StatusCode != tt.want {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, res.StatusCode, body, tt.want)
		}
	}
}

func TestTriggerView(t *testing.T) {
	rate, next := 50.0, metav1.NewTime(t0.Add(time.Hour))
	kafka := &api.Trigger{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "orders"},
		Spec: api.TriggerSpec{Kafka: &api.KafkaTrigger{Topics: []string{"orders", "refunds"}, ConsumerGroup: "g"},
			Sink: api.Sink{Function: "hello", Tag: "canary"}, RateLimit: &rate},
		Status: api.TriggerStatus{Delivered: 120, Retried: 7, DeadLettered: 2, Failed: 3,
			Lag:        []api.PartitionLag{{Topic: "orders", Partition: 0, Lag: 12}, {Topic: "orders", Partition: 1, Lag: 0}},
			Conditions: []api.Condition{{Type: api.ConditionReady, Status: api.ConditionTrue}}}}
	v := triggerOf(kafka)
	if v.Kind != "kafka" || v.Source != "kafka topics=orders,refunds group=g" || v.Sink != "hello/canary" ||
		v.Delivered != 120 || v.Retried != 7 || v.DeadLettered != 2 || v.Failed != 3 || len(v.Lag) != 2 || v.Lag[0].Lag != 12 ||
		v.RateLimit == nil || *v.RateLimit != 50 || v.Ready != "True" {
		t.Errorf("kafka trigger view %+v", v)
	}
	cron := &api.Trigger{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "nightly"},
		Spec:   api.TriggerSpec{Cron: &api.CronTrigger{Schedule: "0 3 * * *", Timezone: "Europe/Paris"}, Sink: api.Sink{URI: "https://hooks.example.com/r"}},
		Status: api.TriggerStatus{NextFireTime: &next}}
	v = triggerOf(cron)
	if v.Kind != "cron" || v.Source != `cron "0 3 * * *" Europe/Paris` || v.Sink != "https://hooks.example.com/r" ||
		v.NextFire == nil || !v.NextFire.Equal(next.Time) || v.RateLimit != nil || v.Ready != "Unknown" {
		t.Errorf("cron trigger view %+v", v)
	}
}
