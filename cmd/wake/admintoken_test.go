package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// tokenFile writes text to a new file with mode perm and returns its path.
func tokenFile(t *testing.T, text string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(text), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

func TestFirstStartCreatesTheTokenOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	first, err := adminTokenOptions{}.resolve(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !first.created || first.path != filepath.Join(dir, "admin-token") || len(first.token) != 43 {
		t.Fatalf("got created=%v path=%s and a token of %d characters; want a new 43-character token in %s/admin-token",
			first.created, first.path, len(first.token), dir)
	}
	fi, err := os.Stat(first.path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("the token file has mode %#o, want 0600", perm)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the state directory holds %d files, want only admin-token (no temporary file left)", len(entries))
	}

	again, err := adminTokenOptions{}.resolve(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.created || again.token != first.token {
		t.Errorf("a second start made a new token (created=%v); it must keep the first", again.created)
	}
}

// Two wake serves starting at once on one state directory end up with the
// same token: the second never replaces the first's file.
func TestConcurrentStartsShareOneToken(t *testing.T) {
	dir := t.TempDir()
	tokens := make([]string, 8)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() {
			tok, err := adminTokenOptions{}.resolve(dir)
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok.token
		})
	}
	wg.Wait()
	for _, tok := range tokens[1:] {
		if tok != tokens[0] {
			t.Fatalf("the starts got different tokens")
		}
	}
}

func TestTokenFileProblems(t *testing.T) {
	good := "c2VjcmV0LXRva2VuLWZvci10ZXN0cw"
	tests := []struct {
		name    string
		opts    func(t *testing.T) adminTokenOptions
		want    string // the token, when no error
		wantErr string // part of the error
	}{
		{"a file named and valid", func(t *testing.T) adminTokenOptions {
			return adminTokenOptions{file: tokenFile(t, good+"\n", 0o600), fileSet: true}
		}, good, ""},
		{"a file named that does not exist", func(t *testing.T) adminTokenOptions {
			return adminTokenOptions{file: filepath.Join(t.TempDir(), "missing"), fileSet: true}
		}, "", "--admin-token-file: stat"},
		{"a file other users can read", func(t *testing.T) adminTokenOptions {
			return adminTokenOptions{file: tokenFile(t, good, 0o640), fileSet: true}
		}, "", "mode 0640 lets other users read the admin token: run chmod 600"},
		{"an empty file", func(t *testing.T) adminTokenOptions {
			return adminTokenOptions{file: tokenFile(t, "\n", 0o600), fileSet: true}
		}, "", "the admin token has 0 characters"},
		{"a short token", func(t *testing.T) adminTokenOptions {
			return adminTokenOptions{file: tokenFile(t, "hunter2", 0o600), fileSet: true}
		}, "", "fewer than 16"},
		{"a token with a space", func(t *testing.T) adminTokenOptions {
			return adminTokenOptions{file: tokenFile(t, "two words of a token", 0o600), fileSet: true}
		}, "", "only visible ASCII"},
		{"a directory", func(t *testing.T) adminTokenOptions {
			return adminTokenOptions{file: t.TempDir(), fileSet: true}
		}, "", "not a regular file"},
		{"an empty file name", func(*testing.T) adminTokenOptions {
			return adminTokenOptions{file: "", fileSet: true}
		}, "", "--admin-token-file is empty"},
		{"no token", func(*testing.T) adminTokenOptions {
			return adminTokenOptions{none: true}
		}, "", ""},
		{"no token and a file", func(t *testing.T) adminTokenOptions {
			return adminTokenOptions{none: true, file: tokenFile(t, good, 0o600), fileSet: true}
		}, "", "contradict"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			got, err := tc.opts(t).resolve(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one saying %q", err, tc.wantErr)
				}
				if _, err := os.Stat(filepath.Join(dir, "admin-token")); err == nil {
					t.Error("a token file was created in the state directory though a file was named")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.token != tc.want {
				t.Errorf("got token %q, want %q", got.token, tc.want)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"0.0.0.0", false},
		{"::", false},
		{"192.168.1.10", false},
	}
	for _, tc := range tests {
		if got := isLoopback(&net.TCPAddr{IP: net.ParseIP(tc.ip), Port: 8081}); got != tc.want {
			t.Errorf("isLoopback(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

func TestTokenNoticeNamesThePathNeverTheToken(t *testing.T) {
	const secret = "c2VjcmV0LXRva2VuLWZvci10ZXN0cw"
	tests := []struct {
		name        string
		tok         adminToken
		cliStateDir string
		want        string
	}{
		{"the CLI's own state dir", adminToken{token: secret, path: "/s/admin-token"}, "/s",
			"admin API token in /s/admin-token, where the CLI on this machine reads it"},
		{"another state dir", adminToken{token: secret, path: "/s/admin-token", created: true}, "/home/u/.local/state/wake",
			"new admin API token in /s/admin-token: export WAKE_STATE_DIR=/s for the CLI on this machine to read it"},
		{"a file of its own", adminToken{token: secret, path: "/etc/wake/token"}, "/s",
			`admin API token in /etc/wake/token: export WAKE_TOKEN="$(cat /etc/wake/token)" for the CLI to send it`},
		{"no token", adminToken{}, "/s",
			"admin API takes requests without a token (--no-admin-token): every user and process of this machine can deploy functions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.tok.notice("/s", tc.cliStateDir)
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if strings.Contains(got, secret) {
				t.Errorf("the notice shows the token")
			}
		})
	}
}
