package controlplane_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wakefn/wake/controlplane"
)

func TestAdminRefusesWhatAWebPageCouldSend(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	srv := httptest.NewServer(controlplane.NewAdminHandler(controlplane.AdminOptions{ControlPlane: cp}))
	defer srv.Close()
	tests := []struct {
		name   string
		host   string
		header map[string]string
		want   int
	}{
		{"the CLI", "", map[string]string{"Content-Type": "application/yaml"}, http.StatusOK},
		{"a cross-site form post", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"a no-cors fetch", "", map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
		{"any request with an Origin", "", map[string]string{"Content-Type": "application/yaml", "Origin": "http://evil.example"}, http.StatusForbidden},
		{"DNS rebinding", "evil.example:8081", map[string]string{"Content-Type": "application/yaml"}, http.StatusForbidden},
		{"localhost by name", "localhost:8081", map[string]string{"Content-Type": "application/yaml"}, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+"/apis/wake.dev/v1/apply?source=fn.yaml", strings.NewReader(v1))
			if tc.host != "" {
				req.Host = tc.host
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("got %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
}
