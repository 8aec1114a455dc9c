package controlplane_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/router"
)

const testToken = "Zm9vYmFyYmF6cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2Fs"

func TestAdminNeedsTheToken(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	srv := httptest.NewServer(controlplane.NewAdminHandler(controlplane.AdminOptions{
		ControlPlane: cp, Gatherer: prometheus.NewRegistry(), Token: testToken,
	}))
	defer srv.Close()
	tests := []struct {
		name, path, auth string
		want             int
		wantChallenge    string // the WWW-Authenticate of a 401
	}{
		{"no header", "/apis/wake.dev/v1/functions", "", 401, `Bearer realm="wake admin API"`},
		{"another scheme", "/apis/wake.dev/v1/functions", "Basic " + testToken, 401, `Bearer realm="wake admin API"`},
		{"the scheme without a token", "/apis/wake.dev/v1/functions", "Bearer ", 401, `Bearer realm="wake admin API"`},
		{"the token bare", "/apis/wake.dev/v1/functions", testToken, 401, `Bearer realm="wake admin API"`},
		{"a wrong token", "/apis/wake.dev/v1/functions", "Bearer " + strings.ToUpper(testToken), 401, `Bearer realm="wake admin API", error="invalid_token"`},
		{"the token cut short", "/apis/wake.dev/v1/functions", "Bearer " + testToken[:len(testToken)-1], 401, `Bearer realm="wake admin API", error="invalid_token"`},
		{"the token and more", "/apis/wake.dev/v1/functions", "Bearer " + testToken + "x", 401, `Bearer realm="wake admin API", error="invalid_token"`},
		{"the right token", "/apis/wake.dev/v1/functions", "Bearer " + testToken, 200, ""},
		{"the scheme in lower case", "/apis/wake.dev/v1/functions", "bearer " + testToken, 200, ""},
		{"health without a token", "/healthz", "", 200, ""},
		{"metrics without a token", "/metrics", "", 401, `Bearer realm="wake admin API"`},
		{"metrics with the token", "/metrics", "Bearer " + testToken, 200, ""},
		{"an unknown path without a token", "/nothing-here", "", 401, `Bearer realm="wake admin API"`},
		{"an unknown path with the token", "/nothing-here", "Bearer " + testToken, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("got %d, want %d", res.StatusCode, tc.want)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != tc.wantChallenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.wantChallenge)
			}
			if tc.want != http.StatusUnauthorized {
				return
			}
			var p controlplane.Problem
			if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"--token", "WAKE_TOKEN", "STATE_DIR/admin-token"} {
				if !strings.Contains(p.Message, want) {
					t.Errorf("the 401's message %q does not say %q", p.Message, want)
				}
			}
		})
	}
}

func TestAdminWithoutATokenTakesEveryRequest(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	srv := httptest.NewServer(controlplane.NewAdminHandler(controlplane.AdminOptions{ControlPlane: cp}))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/apis/wake.dev/v1/functions")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("got %d, want 200", res.StatusCode)
	}
}

// The admin API's logs, and the control plane's under it, never show a
// token (right or wrong) or what a request carried in its body.
func TestAdminLogsNoTokenNorBody(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	ev := &events{}
	cp := controlplane.New(controlplane.Options{
		Store: openStore(t, t.TempDir()), Runtime: fakeRuntime{ev}, Router: router.New(router.Options{}),
		Activator: fakeActivator{ev}, Autoscaler: fakeAutoscaler{ev}, URLPort: 8080, LocalCommands: true,
		Logger: log.Named("controlplane"),
	})
	if err := cp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(controlplane.NewAdminHandler(controlplane.AdminOptions{
		ControlPlane: cp, Token: testToken, Logger: log.Named("admin"),
	}))
	defer srv.Close()

	const wrongToken = "d3JvbmctdG9rZW4td3JvbmctdG9rZW4td3Jvbmc"
	const secret = "body-secret-4b1d9e"
	good := strings.Replace(v1, "value: hi", "value: "+secret, 1)
	bad := good + "  nonsense: " + secret + "\n"
	send := func(method, path, token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/yaml")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for _, step := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"POST", "/apis/wake.dev/v1/apply?source=fn.yaml", testToken, good, 200},
		{"POST", "/apis/wake.dev/v1/apply?source=fn.yaml", testToken, bad, 400},
		{"POST", "/apis/wake.dev/v1/apply?source=fn.yaml", wrongToken, good, 401},
		{"PUT", "/apis/wake.dev/v1/namespaces/default/functions/hello/traffic", testToken, `{"traffic":[{"revisionName":"` + secret + `","percent":100}]}`, 400},
		{"DELETE", "/apis/wake.dev/v1/namespaces/default/functions/hello", wrongToken, secret, 401},
	} {
		if got := send(step.method, step.path, step.token, step.body); got != step.want {
			t.Fatalf("%s %s: got %d, want %d", step.method, step.path, got, step.want)
		}
	}

	if logs.FilterMessage("revision created").Len() == 0 || logs.FilterMessage("admin request refused: wrong token").Len() != 2 {
		t.Fatalf("the requests did not log what they should; logged:\n%s", dump(logs.All()))
	}
	for _, e := range logs.All() {
		line := fmt.Sprintf("%s %v", e.Message, e.ContextMap())
		for _, s := range []string{testToken, wrongToken, secret} {
			if strings.Contains(line, s) {
				t.Errorf("a log line shows %q: %s", s, line)
			}
		}
	}
}

func dump(entries []observer.LoggedEntry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "  %s %v\n", e.Message, e.ContextMap())
	}
	return b.String()
}
