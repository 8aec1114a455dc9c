package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// adminRequest sends a request to the admin API with auth as its
// Authorization header ("" for none) and returns the status and body.
func (s *server) adminRequest(method, path, auth, contentType, body string) (int, string, http.Header) {
	s.t.Helper()
	req, err := http.NewRequest(method, "http://"+s.admin+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return res.StatusCode, b.String(), res.Header
}

// The admin API answers only to its token, which wake serve creates on
// first start, readable by its owner only, keeps across restarts and never
// prints; the CLI on the same machine finds it by itself.
func TestSecurityAdminAPINeedsTheToken(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	tokenFile := filepath.Join(w.stateDir, "admin-token")
	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatalf("wake serve created no token file: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %#o, want 0600", tokenFile, perm)
	}
	token := w.token()
	if len(token) < 32 {
		t.Errorf("the generated token has %d characters, want 32 or more", len(token))
	}

	manifest := fn{name: "guarded", marker: marker(t)}.yaml()
	const apply = "/apis/wake.dev/v1/apply?source=fn.yaml"
	const list = "/apis/wake.dev/v1/functions"
	const wrong = "Bearer this-is-not-the-token-0123456789"
	for _, tc := range []struct {
		name, method, path, auth, body string
		want                           int
	}{
		{"list without a token", "GET", list, "", "", 401},
		{"apply without a token", "POST", apply, "", manifest, 401},
		{"list with a wrong token", "GET", list, wrong, "", 401},
		{"apply with a wrong token", "POST", apply, wrong, manifest, 401},
		{"metrics without a token", "GET", "/metrics", "", "", 401},
		{"health without a token", "GET", "/healthz", "", "", 200},
		{"list with the token", "GET", list, "Bearer " + token, "", 200},
		{"metrics with the token", "GET", "/metrics", "Bearer " + token, "", 200},
	} {
		code, body, h := w.adminRequest(tc.method, tc.path, tc.auth, "application/yaml", tc.body)
		if code != tc.want {
			t.Errorf("%s: got %d, want %d: %s", tc.name, code, tc.want, body)
		}
		if code == 401 && (!strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(body, "WAKE_TOKEN")) {
			t.Errorf("%s: a 401 without a Bearer challenge or advice: %v %s", tc.name, h, body)
		}
	}
	if out := w.mustCLI("get", "functions"); strings.Contains(out, "guarded") {
		t.Fatalf("an apply without the token deployed a function:\n%s", out)
	}

	// The CLI on this machine: the state directory by flag, by environment,
	// or the token itself; with none of them it says what to do.
	emptyHome := []string{"XDG_STATE_HOME=" + t.TempDir(), "HOME=" + t.TempDir()}
	w.apply(manifest, "--no-wait")
	if _, stderr, err := w.cliWithEnv(emptyHome, "get", "functions", "guarded", "--state-dir", w.stateDir); err != nil {
		t.Errorf("the CLI with --state-dir: %v: %s", err, stderr)
	}
	if _, stderr, err := w.cliWithEnv(append(emptyHome, "WAKE_TOKEN="+token), "get", "functions"); err != nil {
		t.Errorf("the CLI with WAKE_TOKEN: %v: %s", err, stderr)
	}
	_, stderr, err := w.cliWithEnv(emptyHome, "get", "functions")
	if err == nil || !strings.Contains(stderr, "needs its admin token") || !strings.Contains(stderr, "WAKE_STATE_DIR") {
		t.Errorf("the CLI without a token: err %v, stderr %q; want a failure saying how to pass the token", err, stderr)
	}
	_, stderr, err = w.cliWithEnv(append(emptyHome, "WAKE_TOKEN=this-is-not-the-token-0123456789"), "get", "functions")
	if err == nil || !strings.Contains(stderr, "refused the admin token from WAKE_TOKEN") {
		t.Errorf("the CLI with a wrong token: err %v, stderr %q; want a refusal naming WAKE_TOKEN", err, stderr)
	}
	if strings.Contains(stderr, "this-is-not-the-token") {
		t.Errorf("the CLI printed the token it sent: %s", stderr)
	}

	// wake invoke sends the token to the admin API only, never to the function.
	if out := w.mustCLI("invoke", "guarded", "--path", "/header?k=Authorization"); strings.TrimSpace(out) != "" {
		t.Errorf("the function saw an Authorization header: %q", out)
	}

	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(w.output.String(), token) || strings.Contains(w.output.String(), "this-is-not-the-token") {
		t.Errorf("wake serve's output shows a token")
	}
	if !strings.Contains(w.output.String(), tokenFile) {
		t.Errorf("wake serve did not say where its token is (%s)", tokenFile)
	}

	again := startWake(t, w.stateDir)
	if again.token() != token {
		t.Errorf("a restart on the same state directory changed the token")
	}
}

// Without a token the admin API may listen on loopback only.
func TestSecurityNoTokenOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, wakeBin, "serve", "--http", "127.0.0.1:0", "--admin", "0.0.0.0:0",
		"--no-admin-token", "--state-dir", t.TempDir())
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatal("wake serve --admin 0.0.0.0:0 --no-admin-token started and kept running")
	}
	if err == nil || !strings.Contains(out.String(), "--no-admin-token") || !strings.Contains(out.String(), "127.0.0.1") {
		t.Fatalf("got %v and output %q; want a refusal naming --no-admin-token and how to listen on 127.0.0.1", err, out.String())
	}

	w := startWake(t, "", "--no-admin-token")
	if code, body, _ := w.adminRequest("GET", "/apis/wake.dev/v1/functions", "", "", ""); code != 200 {
		t.Errorf("--no-admin-token on loopback: got %d, want 200: %s", code, body)
	}
	if _, err := os.Stat(filepath.Join(w.stateDir, "admin-token")); err == nil {
		t.Errorf("--no-admin-token created a token file")
	}
}

// The data plane serves functions only: the admin API's paths through its
// port, for a Host no function has, are a 404 like any other.
func TestSecurityDataPlaneServesNoAdminRoutes(t *testing.T) {
	t.Parallel()
	for _, fast := range []string{"true", "false"} {
		t.Run("http1-fast-path="+fast, func(t *testing.T) {
			w := startWake(t, "", "--http1-fast-path="+fast)
			auth := "Bearer " + w.token()
			for _, host := range []string{w.http, "localhost", w.admin} {
				for _, path := range []string{"/apis/wake.dev/v1/functions", "/apis/wake.dev/v1/info", "/metrics", "/healthz"} {
					req, _ := http.NewRequest(http.MethodGet, "http://"+w.http+path, nil)
					req.Host = host
					req.Header.Set("Authorization", auth)
					res, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					var b bytes.Buffer
					b.ReadFrom(res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusNotFound || !strings.Contains(b.String(), "no function serves host") {
						t.Errorf("Host %s, GET %s on the data plane: got %d %q, want the router's 404", host, path, res.StatusCode, b.String())
					}
				}
			}
		})
	}
}

// A function's environment is what its manifest declares, PORT and the
// K_* variables, and PATH, LANG and TZ: nothing else of wake's own, where
// its secrets are.
func TestSecurityFunctionEnvIsOnlyWhatItIsGiven(t *testing.T) {
	// Not parallel: t.Setenv sets wake serve's environment.
	t.Setenv("WAKE_TEST_SECRET", "s3cr3t-of-wake")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-of-the-cloud")
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("TZ", "UTC")
	w := startWake(t, "")
	w.apply(fn{name: "envs", marker: marker(t), env: map[string]string{"GREETING": "hi", "DECLARED": "yes"}}.yaml())

	r := w.mustGet("envs.default.localhost", "/envnames")
	got := strings.Fields(r.body)
	want := []string{"DECLARED", "GREETING", "K_CONFIGURATION", "K_REVISION", "K_SERVICE", "LANG", "PATH", "PORT", "TZ"}
	if !slices.Equal(got, want) {
		t.Errorf("the function's environment has %v, want exactly %v", got, want)
	}
	for k, v := range map[string]string{"LANG": "C.UTF-8", "TZ": "UTC", "PATH": os.Getenv("PATH"), "WAKE_TEST_SECRET": ""} {
		if r := w.mustGet("envs.default.localhost", "/env?k="+k); strings.TrimSpace(r.body) != v {
			t.Errorf("the function's %s is %q, want %q", k, strings.TrimSpace(r.body), v)
		}
	}
}
