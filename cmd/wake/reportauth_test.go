package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGatewayReportTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "  a-token-of-32-characters-or-more-mounted\n")
	short := write("short", "secret\n")
	tests := []struct{ name, path, want string }{
		{"not given", "", `--report-token-file: required: the file holding the token the controllers accept, key "token" of the Secret wake-report-token`},
		{"missing", filepath.Join(dir, "none"), "--report-token-file: reading the report token: open " + filepath.Join(dir, "none") + ": no such file or directory"},
		{"unreadable", dir, "--report-token-file: reading the report token: read " + dir + ": is a directory"},
		{"too short", short, "--report-token-file: " + short + ": the report token has 6 characters, fewer than 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := gatewayReportToken(tt.path, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("gatewayReportToken(%q) = %v, want an error with %q", tt.path, err, tt.want)
			}
		})
	}
	f, err := gatewayReportToken(good, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Token(); got != "a-token-of-32-characters-or-more-mounted" {
		t.Errorf("Token() = %q, want the file's token without white space", got)
	}
}

func TestGatewayRefusesToStartWithoutItsToken(t *testing.T) {
	cmd := newGatewayCommand()
	cmd.SetArgs([]string{"--id", "gw-1", "--report-token-file", filepath.Join(t.TempDir(), "none"), "--log-format", "console"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "--report-token-file: reading the report token: open ") {
		t.Fatalf("wake gateway = %v, want the missing token file named", err)
	}
}

func TestReportSecretName(t *testing.T) {
	tests := []struct{ name, secret, want string }{
		{"default", defaultReportTokenSecret, ""},
		{"empty", "", "--report-token-secret: required"},
		{"not a name", "Report_Token", `--report-token-secret "Report_Token": not a Secret name: a lowercase RFC 1123 subdomain`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkReportSecretName(tt.secret)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("checkReportSecretName(%q) = %v, want %q", tt.secret, err, tt.want)
			}
		})
	}
}

func TestControllerRefusesABadSecretName(t *testing.T) {
	cmd := newControllerCommand()
	cmd.SetArgs([]string{"--report-token-secret", "", "--log-format", "console"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--report-token-secret: required") {
		t.Fatalf("wake controller = %v, want the empty --report-token-secret named", err)
	}
}

func TestTokenFromSecret(t *testing.T) {
	secret := func(data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "wake-report-token"}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	tests := []struct {
		name   string
		secret *corev1.Secret
		token  string
		want   string
	}{
		{"generated", secret(map[string]string{"token": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6"}), "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6", ""},
		{"with a newline", secret(map[string]string{"token": "a-token-of-32-characters-or-more-by-hand\n"}), "a-token-of-32-characters-or-more-by-hand", ""},
		{"other key", secret(map[string]string{"password": "a-token-of-32-characters-or-more-by-hand"}), "", `no key "token": put the token there (kubectl create secret generic wake-report-token --from-literal=token=TOKEN)`},
		{"short", secret(map[string]string{"token": "hunter2"}), "", `key "token": the report token has 7 characters, fewer than 32`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tokenFromSecret(tt.secret)
			if tt.want == "" && (err != nil || got != tt.token) || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("tokenFromSecret = %q, %v; want %q, %q", got, err, tt.token, tt.want)
			}
		})
	}
}
