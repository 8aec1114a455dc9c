package demand

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/wakefn/wake/activator"
)

// refused is the guard's count of refusals for reason.
func (l *leader) refused(reason string) float64 {
	return testutil.ToFloat64(l.guard.refused.WithLabelValues(reason))
}

func TestReporterWithTheTokenIsAccepted(t *testing.T) {
	l := newLeader(t)
	src := newFakeSource()
	src.add(revKey, nil, activator.Stats{Concurrency: 2, InFlight: 2, Requests: 3, Ready: 1})
	r := startReporter(t, l, ReporterOptions{Controllers: []string{l.url}, Gateway: "gw-a", Source: src})

	l.clock.Step(DefaultInterval)
	waitFor(t, "the report", func() bool { return l.reports.Load() == 1 })
	if got := l.Sample(revKey); got.Requests != 3 || got.Concurrency != 2 {
		t.Errorf("Sample = %+v, want the report's 3 requests at concurrency 2", got)
	}
	r.Wake(revKey)
	waitFor(t, "the wake-up", func() bool { return l.waker.count(revKey) == 1 })
	if m, i := l.refused(RefusedMissing), l.refused(RefusedInvalid); m != 0 || i != 0 {
		t.Errorf("refused %v missing, %v invalid; want none", m, i)
	}
}

func TestReporterWithAWrongTokenIsRefusedAndCounted(t *testing.T) {
	l := newLeader(t)
	src := newFakeSource()
	src.add(revKey, nil, activator.Stats{Concurrency: 5, InFlight: 5, Requests: 7, Ready: 1})
	wrong := staticToken("another-token-of-32-characters-or-more")
	r := startReporter(t, l, ReporterOptions{Controllers: []string{l.url}, Gateway: "gw-a", Source: src, Token: wrong})

	l.clock.Step(DefaultInterval)
	waitFor(t, "the refused report", func() bool { return l.requests.Load() == 1 })
	r.Wake(revKey)
	waitFor(t, "the refused wake-up", func() bool { return r.idle(revKey) && l.requests.Load() == 2 })

	if got := l.refused(RefusedInvalid); got != 2 {
		t.Errorf("wake_demand_refused_total{reason=invalid} = %v, want 2", got)
	}
	if got := l.Gateways(); got != 0 {
		t.Errorf("the collector keeps %d gateways, want none: a refused report records nothing", got)
	}
	if got := l.Sample(revKey); !got.NoData || got.Requests != 0 {
		t.Errorf("Sample = %+v, want no data", got)
	}
	if got := l.waker.count(revKey); got != 0 {
		t.Errorf("a wake-up with a wrong token woke the autoscaler %d times", got)
	}
}

func TestRequestsWithoutATokenAreRefused(t *testing.T) {
	l := newLeader(t)
	report, _ := json.Marshal(Report{Gateway: "gw-x", Since: t0.Add(-time.Second), Sent: t0,
		Revisions: []RevisionReport{{Namespace: revKey.Namespace, Name: revKey.Name, Concurrency: 100, InFlight: 100, Requests: 100}}})
	wake, _ := json.Marshal(WakeRequest{Namespace: revKey.Namespace, Name: revKey.Name})
	tests := []struct {
		name, path, auth string
		body             []byte
		code             int
		reason           string
	}{
		{"report without a header", ReportPath, "", report, http.StatusUnauthorized, RefusedMissing},
		{"wake-up without a header", WakePath, "", wake, http.StatusUnauthorized, RefusedMissing},
		{"wake-up with another scheme", WakePath, "Basic " + testToken.Token(), wake, http.StatusUnauthorized, RefusedMissing},
		{"wake-up with an empty bearer", WakePath, "Bearer ", wake, http.StatusUnauthorized, RefusedMissing},
		{"wake-up with the token as a prefix", WakePath, "Bearer " + testToken.Token() + "x", wake, http.StatusForbidden, RefusedInvalid},
		{"wake-up with a prefix of the token", WakePath, "Bearer " + testToken.Token()[:MinTokenLen], wake, http.StatusForbidden, RefusedInvalid},
		{"report with a wrong token", ReportPath, "Bearer wrong", report, http.StatusForbidden, RefusedInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := l.refused(tt.reason)
			code, msg := postAuth(t, l.url+tt.path, tt.auth, tt.body)
			if code != tt.code || !strings.Contains(msg, "report token") {
				t.Errorf("POST %s = %d %q, want %d naming the report token", tt.path, code, msg, tt.code)
			}
			if got := l.refused(tt.reason) - before; got != 1 {
				t.Errorf("wake_demand_refused_total{reason=%s} went up by %v, want 1", tt.reason, got)
			}
		})
	}
	if got := l.waker.count(revKey); got != 0 {
		t.Errorf("wake-ups without an accepted token woke the autoscaler %d times", got)
	}
	if got := l.Gateways(); got != 0 {
		t.Errorf("reports without an accepted token recorded %d gateways", got)
	}
	// The scheme's case does not matter (RFC 9110): the same token passes.
	if code, msg := postAuth(t, l.url+WakePath, "bearer "+testToken.Token(), wake); code != http.StatusAccepted {
		t.Fatalf("wake-up with the token = %d %q, want 202", code, msg)
	}
	if got := l.waker.count(revKey); got != 1 {
		t.Errorf("the authenticated wake-up woke %d times, want 1", got)
	}
}

func TestRotatedTokenIsAcceptedForTheGraceOnly(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(t0)
	const old, new = "old-token-of-32-characters-or-more", "new-token-of-32-characters-or-more"
	tok, err := NewTokens(old, TokensOptions{Clock: clk, Grace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := tok.Set(old); changed || err != nil {
		t.Errorf("Set(the same token) = %v, %v; want no change", changed, err)
	}
	if changed, err := tok.Set("short"); changed || err == nil {
		t.Errorf("Set(a short token) = %v, %v; want an error", changed, err)
	}
	if !tok.Valid(old) {
		t.Fatal("a refused Set replaced the token")
	}
	if changed, err := tok.Set(new); !changed || err != nil {
		t.Fatalf("Set(new) = %v, %v; want a change", changed, err)
	}
	if !tok.Valid(new) || !tok.Valid(old) {
		t.Errorf("within the grace: new valid %v, old valid %v; want both", tok.Valid(new), tok.Valid(old))
	}
	clk.SetTime(t0.Add(time.Minute))
	if !tok.Valid(new) || tok.Valid(old) {
		t.Errorf("after the grace: new valid %v, old valid %v; want the new only", tok.Valid(new), tok.Valid(old))
	}
	if tok.Valid("") {
		t.Error("the empty token is valid")
	}
}

func TestTokenFileIsRereadAfterRotation(t *testing.T) {
	l := newLeader(t)
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, testToken.Token()+"\n")
	file, err := NewTokenFile(path, TokenFileOptions{Clock: l.clock, Recheck: DefaultTokenRecheck})
	if err != nil {
		t.Fatal(err)
	}
	src := newFakeSource()
	src.add(revKey, nil, activator.Stats{Requests: 1})
	startReporter(t, l, ReporterOptions{Controllers: []string{l.url}, Gateway: "gw-a", Source: src, Token: file})
	l.clock.Step(DefaultInterval)
	waitFor(t, "the first report", func() bool { return l.reports.Load() == 1 })

	// The controller rotates: it accepts both for the grace; the gateway's
	// file changes later, as a mounted Secret does.
	rotated := "rotated-token-of-32-characters-or-more"
	if _, err := l.tokens.Set(rotated); err != nil {
		t.Fatal(err)
	}
	writeToken(t, path, rotated)
	l.clock.Step(DefaultTokenRecheck)
	waitFor(t, "a report after the recheck", func() bool { return l.reports.Load() == 2 })
	if got := file.Token(); got != rotated {
		t.Fatalf("Token() = %q after the recheck, want the rotated token", got)
	}
	// Past the grace only the rotated token passes, and the reports go on.
	l.clock.Step(DefaultRotationGrace)
	waitFor(t, "a report past the grace", func() bool { return l.reports.Load() == 3 })
	if got := l.refused(RefusedInvalid); got != 0 {
		t.Errorf("%v reports refused across the rotation, want none", got)
	}

	// A file that turns bad keeps the last good token.
	writeToken(t, path, "short")
	l.clock.Step(DefaultTokenRecheck)
	if got := file.Token(); got != rotated {
		t.Errorf("Token() = %q after the file turned bad, want the last good one", got)
	}
}

func writeToken(t *testing.T, path, token string) {
	t.Helper()
	// As the kubelet does: a new file renamed over the old.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestTokenFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	writeToken(t, short, "abc\n")
	spaced := filepath.Join(dir, "spaced")
	writeToken(t, spaced, "a token of 32 characters with spaces in it")
	tests := []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "none"), "reading the report token: open " + filepath.Join(dir, "none") + ": no such file"},
		{"a directory", dir, "reading the report token: read " + dir + ": is a directory"},
		{"too short", short, short + ": the report token has 3 characters, fewer than 32"},
		{"spaces", spaced, spaced + ": the report token has a byte 0x20 at offset 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewTokenFile(tt.path, TokenFileOptions{}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewTokenFile = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestRefusalsAreLoggedAtMostEvery10s(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(t0)
	core, logs := observer.New(zapcore.WarnLevel)
	tok, err := NewTokens(testToken.Token(), TokensOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	g, err := NewGuard(GuardOptions{Tokens: tok, Clock: clk, Logger: zap.New(core), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("a refused request reached the handler") }))
	refuse := func() {
		req, _ := http.NewRequest(http.MethodPost, "http://controller"+WakePath, nil)
		h.ServeHTTP(discard{}, req)
	}
	for range 5 {
		refuse()
	}
	clk.SetTime(t0.Add(refusedLogEvery - time.Nanosecond))
	refuse()
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d log lines for 6 refusals within %v, want 1", n, refusedLogEvery)
	}
	clk.SetTime(t0.Add(refusedLogEvery))
	refuse()
	lines := logs.TakeAll()
	if len(lines) != 2 || lines[1].ContextMap()["refusedUnlogged"] != int64(5) {
		t.Errorf("log lines %v, want a second one with refusedUnlogged=5", lines)
	}
	if got := testutil.ToFloat64(g.refused.WithLabelValues(RefusedMissing)); got != 7 {
		t.Errorf("wake_demand_refused_total{reason=missing} = %v, want 7", got)
	}
	if n, err := testutil.GatherAndCount(reg, "wake_demand_refused_total"); err != nil || n != 2 {
		t.Errorf("registry has %d wake_demand_refused_total series (%v), want missing and invalid", n, err)
	}
	if _, err := NewGuard(GuardOptions{Tokens: tok, Registerer: reg}); err == nil {
		t.Error("a second guard on the same registry registered its counter again")
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func TestCheckToken(t *testing.T) {
	tests := []struct{ name, token, want string }{
		{"generated", "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6", ""},
		{"empty", "", "0 characters, fewer than 32"},
		{"control byte", strings.Repeat("a", 32) + "\x00", "byte 0x0 at offset 32"},
		{"too long", strings.Repeat("a", MaxTokenLen+1), "more than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckToken(tt.token)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("CheckToken = %v, want %q", err, tt.want)
			}
		})
	}
}
