package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveTokenOrder(t *testing.T) {
	// withFile is a state directory holding an admin-token; unreadable one
	// holds a directory by that name, which fails the test's call if read.
	withFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(withFile, "admin-token"), []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := t.TempDir()
	if err := os.Mkdir(filepath.Join(unreadable, "admin-token"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		src        tokenSources
		want, from string
		wantErr    bool
	}{
		{"the flag first", tokenSources{flag: "from-the-flag", env: "from-the-env", server: "http://127.0.0.1:8081", stateDir: withFile},
			"from-the-flag", "--token", false},
		{"then the environment", tokenSources{env: "from-the-env", server: "http://127.0.0.1:8081", stateDir: withFile},
			"from-the-env", "WAKE_TOKEN", false},
		{"then the file, for a server on 127.0.0.1", tokenSources{server: "http://127.0.0.1:8081", stateDir: withFile},
			"from-the-file", filepath.Join(withFile, "admin-token"), false},
		{"or on localhost", tokenSources{server: "http://localhost:8081", stateDir: withFile},
			"from-the-file", filepath.Join(withFile, "admin-token"), false},
		{"or on ::1", tokenSources{server: "http://[::1]:8081", stateDir: withFile},
			"from-the-file", filepath.Join(withFile, "admin-token"), false},
		{"no file: no token", tokenSources{server: "http://127.0.0.1:8081", stateDir: t.TempDir()}, "", "", false},
		{"a file that cannot be read", tokenSources{server: "http://127.0.0.1:8081", stateDir: unreadable}, "", "", true},
		{"never the file for another machine", tokenSources{server: "http://10.0.0.5:8081", stateDir: unreadable}, "", "", false},
		{"nor for a name", tokenSources{server: "http://wake.example:8081", stateDir: unreadable}, "", "", false},
		{"nor for a name ending in localhost", tokenSources{server: "http://localhost.example:8081", stateDir: unreadable}, "", "", false},
		{"the flag for another machine", tokenSources{flag: "from-the-flag", server: "http://10.0.0.5:8081", stateDir: withFile},
			"from-the-flag", "--token", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, from, err := resolveToken(tc.src)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error: %v", err, tc.wantErr)
			}
			if got != tc.want || from != tc.from {
				t.Errorf("got %q from %q, want %q from %q", got, from, tc.want, tc.from)
			}
		})
	}
}

// The CLI sends the token as a bearer token, and turns a 401 into advice
// that names where the token came from but never shows it.
func TestClientSendsTheTokenAndExplainsA401(t *testing.T) {
	const right = "the-right-token-0123456789"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+right {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, `{"code":401,"message":"needs a token"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"httpAddr":"127.0.0.1:8080","domain":"localhost"}`))
	}))
	defer srv.Close()

	tests := []struct {
		name    string
		flag    string
		wantErr []string // parts of the error; none means success
	}{
		{"the right token", right, nil},
		{"a wrong token", "a-wrong-token-0123456789", []string{"refused the admin token from --token"}},
		{"no token", "", []string{"needs its admin token", "WAKE_TOKEN", "--state-dir", "WAKE_STATE_DIR"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// An empty state directory: no file to fall back on.
			c := &client{server: srv.URL, auth: clientAuth{flag: tc.flag, stateDir: t.TempDir()}}
			t.Setenv("WAKE_TOKEN", "")
			_, err := c.info(context.Background())
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error %q does not say %q", err, want)
				}
			}
			if tc.flag != "" && strings.Contains(err.Error(), tc.flag) {
				t.Errorf("the error shows the token: %s", err)
			}
		})
	}
}

func TestLocalServerWithoutScheme(t *testing.T) {
	for server, want := range map[string]bool{
		"127.0.0.1:8081": true, "localhost:8081": true, "http://[::1]:8081": true,
		"example.com:8081": false, "http://10.0.0.1:8081": false,
	} {
		if got := localServer(server); got != want {
			t.Errorf("localServer(%q) = %v, want %v", server, got, want)
		}
	}
	if got := (&client{server: "127.0.0.1:8081"}).url("/functions", nil); got != "http://127.0.0.1:8081/apis/wake.dev/v1/functions" {
		t.Errorf("url without a scheme: %s", got)
	}
}
