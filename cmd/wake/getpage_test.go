package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// pagingAdmin answers function lists as wake serve pages them: limit and
// continue (here, the index of the next item), and remembers each call's
// query.
type pagingAdmin struct {
	names []string

	mu      sync.Mutex
	queries []string
}

func (p *pagingAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	p.queries = append(p.queries, q.Encode())
	p.mu.Unlock()
	if r.URL.Path != v1+"/namespaces/default/functions" {
		http.NotFound(w, r)
		return
	}
	start, end := 0, len(p.names)
	if c := q.Get("continue"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"code": 400, "message": fmt.Sprintf("continue: %q is not a token this list gave", c)})
			return
		}
		start = n
	}
	if l, _ := strconv.Atoi(q.Get("limit")); l > 0 && start+l < end {
		end = start + l
	}
	var items []string
	for _, name := range p.names[start:end] {
		items = append(items, fmt.Sprintf(`{"metadata": {"name": %q, "namespace": "default"}, "status": {"url": "http://%s.default.localhost:8080",
  "conditions": [{"type": "Ready", "status": "True"}]}}`, name, name))
	}
	meta := ""
	if end < len(p.names) {
		meta = fmt.Sprintf(`"metadata": {"continue": "%d", "remainingItemCount": %d}, `, end, len(p.names)-end)
	}
	fmt.Fprintf(w, `{"apiVersion": "wake.dev/v1", "kind": "FunctionList", %s"items": [%s]}`, meta, strings.Join(items, ","))
}

func (p *pagingAdmin) sent() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.queries...)
}

func newPagingAdmin(t *testing.T, n int) (*pagingAdmin, string) {
	p := &pagingAdmin{}
	for i := range n {
		p.names = append(p.names, fmt.Sprintf("fn%02d", i))
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func TestGetReadsListsInPages(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantNames  string // -o name's output, joined by spaces
		wantCalls  []string
		wantStderr string
	}{
		{"chunks of --chunk-size, to the end", []string{"--chunk-size", "2"}, "fn00 fn01 fn02 fn03 fn04",
			[]string{"limit=2", "continue=2&limit=2", "continue=4&limit=2"}, ""},
		{"chunks of 500 by default", nil, "fn00 fn01 fn02 fn03 fn04", []string{"limit=500"}, ""},
		{"no chunks", []string{"--chunk-size", "0"}, "fn00 fn01 fn02 fn03 fn04", []string{""}, ""},
		{"--limit", []string{"--limit", "2"}, "fn00 fn01", []string{"limit=2"},
			"3 more remain: read on with --continue 2\n"},
		{"--limit over several chunks", []string{"--limit", "3", "--chunk-size", "2"}, "fn00 fn01 fn02",
			[]string{"limit=2", "continue=2&limit=1"}, "2 more remain: read on with --continue 3\n"},
		{"--continue", []string{"--limit", "2", "--continue", "2"}, "fn02 fn03", []string{"continue=2&limit=2"},
			"1 more remain: read on with --continue 4\n"},
		{"--continue to the end", []string{"--continue", "4"}, "fn04", []string{"continue=4&limit=500"}, ""},
		{"-l goes to wake serve", []string{"-l", "app=shop", "--limit", "5"}, "", []string{"labelSelector=app%3Dshop&limit=5"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			admin, server := newPagingAdmin(t, 5)
			out, errOut, err := wakeSplit(t, server, append([]string{"get", "functions", "-o", "name"}, tc.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			got := strings.Join(strings.Fields(strings.ReplaceAll(out, "function.wake.dev/", "")), " ")
			if got != tc.wantNames {
				t.Errorf("printed %q, want %q", got, tc.wantNames)
			}
			if diff := cmp.Diff(tc.wantCalls, admin.sent()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if errOut != tc.wantStderr {
				t.Errorf("stderr %q, want %q", errOut, tc.wantStderr)
			}
		})
	}
}

func TestGetLimitKeepsTheTableAndJSON(t *testing.T) {
	_, server := newPagingAdmin(t, 3)
	out, _, err := wakeSplit(t, server, "get", "functions", "--limit", "2", "--no-headers")
	if err != nil {
		t.Fatal(err)
	}
	want := "fn00   http://fn00.default.localhost:8080         True\nfn01   http://fn01.default.localhost:8080         True\n"
	if diff := cmp.Diff(want, trimLines(out)); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	out, _, err = wakeSplit(t, server, "get", "functions", "--limit", "2", "-o", "jsonpath={.metadata.continue} {.metadata.remainingItemCount} {.items[*].metadata.name}")
	if err != nil {
		t.Fatal(err)
	}
	if out != "2 1 fn00 fn01" {
		t.Errorf("-o jsonpath: %q", out)
	}
}

func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return strings.Join(lines, "\n")
}

func TestGetPagingBadInput(t *testing.T) {
	_, server := newPagingAdmin(t, 3)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a bad token", []string{"get", "functions", "--continue", "x"}, `continue: "x" is not a token this list gave`},
		{"a negative limit", []string{"get", "functions", "--limit", "-1"}, "--limit: must be 0 (no limit) or more, got -1"},
		{"a negative chunk size", []string{"get", "functions", "--chunk-size", "-5"}, "--chunk-size: must be 0 (no chunks) or more, got -5"},
		{"two types", []string{"get", "functions,revisions", "--limit", "1"}, "--limit, --continue: page one resource type at a time"},
		{"names", []string{"get", "functions", "fn00", "--continue", "1"}, "--limit, --continue: page a list, not objects named"},
		{"watch", []string{"get", "functions", "-w", "--limit", "1"}, "--limit, --continue: not with -w, which watches the whole list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := wakeSplit(t, server, tc.args...)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}
