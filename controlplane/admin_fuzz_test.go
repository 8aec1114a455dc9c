package controlplane_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wakefn/wake/controlplane"
)

// adminMethods are the methods the fuzzer picks from by index; any other
// index sends a method no route takes.
var adminMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, "PATCH"}

// FuzzAdmin sends the admin API arbitrary requests with a valid token:
// whatever the method, path, query, content type and body, the handler
// must not panic or fail with a 5xx (bad input is the client's error,
// 4xx with a message), and must leave the control plane serving.
func FuzzAdmin(f *testing.F) {
	seeds := []struct {
		method      byte
		path, ctype string
		body        string
	}{
		{1, "/apply?source=fn.yaml", "application/yaml", v1},
		{1, "/apply", "application/json", `{"apiVersion":"wake.dev/v1","kind":"Function","metadata":{"name":"x"},"spec":{}}`},
		{1, "/apply", "application/yaml", "apiVersion: wake.dev/v1\nkind: Function\nmetadata: {name: \"\"}\n"},
		{1, "/apply", "application/yaml", "- [unbalanced\n"},
		{2, "/namespaces/default/functions/hello/traffic", "application/json", `[{"revisionName":"hello-00001","percent":140}]`},
		{2, "/namespaces/default/functions/hello/traffic", "application/json", `{`},
		{0, "/namespaces/default/functions/hello/logs?tail=-3&follow=maybe", "", ""},
		{0, "/namespaces/default/revisions/hello-00001?decisions=true", "", ""},
		{0, "/namespaces/%2e%2e/functions", "", ""},
		{3, "/namespaces/default/functions/hello", "", ""},
		{0, "/revisions?function=\x00", "", ""},
		{9, "/functions", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.ctype, []byte(s.body))
	}
	cp, _, _ := newPlane(f, f.TempDir())
	const token = "fuzz-token"
	h := controlplane.NewAdminHandler(controlplane.AdminOptions{ControlPlane: cp, Token: token})
	f.Fuzz(func(t *testing.T, m byte, path, ctype string, body []byte) {
		method := "BREW"
		if int(m) < len(adminMethods) {
			method = adminMethods[m]
		}
		req := httptest.NewRequest(method, "http://127.0.0.1:8081/", strings.NewReader(string(body)))
		// The path goes in raw, as a client could send it.
		req.URL.Path, req.URL.RawQuery, _ = strings.Cut("/apis/wake.dev/v1"+path, "?")
		req.RequestURI = req.URL.RequestURI()
		req.Header.Set("Authorization", "Bearer "+token)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s (%s, %q): %d %s", method, path, ctype, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Body.Len() == 0 {
			t.Fatalf("%s %s: %d with no message", method, path, rec.Code)
		}
	})
}
