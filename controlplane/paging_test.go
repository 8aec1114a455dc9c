package controlplane_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
)

// functionManifest is a function in a namespace; greeting changes its
// template.
func functionManifest(namespace, name, greeting string) string {
	return fmt.Sprintf(`apiVersion: wake.dev/v1
kind: Function
metadata:
  name: %s
  namespace: %s
spec:
  template:
    spec:
      containers:
        - command: ["./hello"]
          env: [{name: GREETING, value: %s}]
`, name, namespace, greeting)
}

// pageList is what a list answer says, for the tests.
type pageList struct {
	Metadata struct {
		Continue           string `json:"continue"`
		RemainingItemCount *int64 `json:"remainingItemCount"`
	} `json:"metadata"`
	Items []api.Function `json:"items"` // names and namespaces are all the tests read
}

func getPage(t *testing.T, srv *httptest.Server, path string, q url.Values) (pageList, int, string) {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	res, err := http.Get(srv.URL + "/apis/wake.dev/v1" + path + sep + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var p controlplane.Problem
		json.NewDecoder(res.Body).Decode(&p)
		return pageList{}, res.StatusCode, p.Message
	}
	var l pageList
	if err := json.NewDecoder(res.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l, res.StatusCode, ""
}

// readAll follows continue tokens from the first page, and returns each
// page's items as NAMESPACE/NAME and its remainingItemCount (-1 for none).
func readAll(t *testing.T, srv *httptest.Server, path string, limit int) (pages [][]string, remaining []int64) {
	t.Helper()
	token := ""
	for i := 0; i < 20; i++ {
		l, code, detail := getPage(t, srv, path, url.Values{"limit": {fmt.Sprint(limit)}, "continue": {token}})
		if code != http.StatusOK {
			t.Fatalf("%s page %d: %d %s", path, i, code, detail)
		}
		var names []string
		for _, it := range l.Items {
			names = append(names, it.Namespace+"/"+it.Name)
		}
		pages = append(pages, names)
		r := int64(-1)
		if l.Metadata.RemainingItemCount != nil {
			r = *l.Metadata.RemainingItemCount
		}
		remaining = append(remaining, r)
		if token = l.Metadata.Continue; token == "" {
			return pages, remaining
		}
	}
	t.Fatal("no last page")
	return nil, nil
}

func TestListsPageAsKubernetesDoes(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	var docs []string
	for _, k := range []string{"shop/cart", "default/b", "default/a", "shop/api", "default/c"} {
		ns, name, _ := strings.Cut(k, "/")
		docs = append(docs, functionManifest(ns, name, "hi"))
	}
	if _, err := apply(t, cp, strings.Join(docs, "---\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(t, cp, functionManifest("default", "a", "hola")); err != nil { // a second revision of a
		t.Fatal(err)
	}
	srv := httptest.NewServer(controlplane.NewAdminHandler(controlplane.AdminOptions{ControlPlane: cp}))
	defer srv.Close()

	t.Run("functions", func(t *testing.T) {
		pages, remaining := readAll(t, srv, "/functions", 2)
		want := [][]string{{"default/a", "default/b"}, {"default/c", "shop/api"}, {"shop/cart"}}
		if diff := cmp.Diff(want, pages); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int64{3, 1, -1}, remaining); diff != "" {
			t.Errorf("remainingItemCount (-want +got):\n%s", diff)
		}
	})
	t.Run("functions of a namespace", func(t *testing.T) {
		pages, _ := readAll(t, srv, "/namespaces/shop/functions", 1)
		if diff := cmp.Diff([][]string{{"shop/api"}, {"shop/cart"}}, pages); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
	})
	t.Run("revisions, by function then age", func(t *testing.T) {
		pages, remaining := readAll(t, srv, "/revisions", 2)
		want := [][]string{{"default/a-00001", "default/a-00002"}, {"default/b-00001", "default/c-00001"},
			{"shop/api-00001", "shop/cart-00001"}}
		if diff := cmp.Diff(want, pages); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int64{4, 2, -1}, remaining); diff != "" {
			t.Errorf("remainingItemCount (-want +got):\n%s", diff)
		}
		pages, _ = readAll(t, srv, "/revisions", 1)
		if len(pages) != 6 || pages[1][0] != "default/a-00002" {
			t.Errorf("one a page: %v", pages)
		}
	})
	t.Run("without a limit, everything and no metadata", func(t *testing.T) {
		l, _, _ := getPage(t, srv, "/functions", nil)
		if len(l.Items) != 5 || l.Metadata.Continue != "" || l.Metadata.RemainingItemCount != nil {
			t.Errorf("%d items, metadata %+v", len(l.Items), l.Metadata)
		}
	})
	t.Run("a deleted item does not lose the place", func(t *testing.T) {
		first, _, _ := getPage(t, srv, "/functions", url.Values{"limit": {"2"}})
		if err := cp.DeleteFunction(t.Context(), api.FunctionKey{Namespace: "default", Name: "b"}); err != nil {
			t.Fatal(err)
		}
		next, _, _ := getPage(t, srv, "/functions", url.Values{"limit": {"2"}, "continue": {first.Metadata.Continue}})
		if len(next.Items) != 2 || next.Items[0].Name != "c" {
			t.Errorf("after deleting b, the next page is %v", next.Items)
		}
	})

	t.Run("a label selector, before the limit", func(t *testing.T) {
		// Revisions carry their function's name as a label.
		pages, remaining := readAll(t, srv, "/revisions?labelSelector=serving.knative.dev/service+in+(a,cart)", 1)
		want := [][]string{{"default/a-00001"}, {"default/a-00002"}, {"shop/cart-00001"}}
		if diff := cmp.Diff(want, pages); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int64{2, 1, -1}, remaining); diff != "" {
			t.Errorf("remainingItemCount (-want +got):\n%s", diff)
		}
	})

	fnToken := func() string {
		l, _, _ := getPage(t, srv, "/functions", url.Values{"limit": {"1"}})
		return l.Metadata.Continue
	}()
	for _, tc := range []struct {
		name, path string
		q          url.Values
		want       string
	}{
		{"a token that is not base64", "/functions", url.Values{"continue": {"!!"}}, "continue:"},
		{"a token of another list", "/revisions", url.Values{"continue": {fnToken}}, "continue:"},
		{"a made-up token", "/revisions", url.Values{"continue": {"aGVsbG8"}}, "continue:"},
		{"a negative limit", "/functions", url.Values{"limit": {"-1"}}, "limit:"},
		{"a limit that is no number", "/revisions", url.Values{"limit": {"ten"}}, "limit:"},
		{"a bad selector", "/functions", url.Values{"labelSelector": {"a=(b"}}, "labelSelector:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, code, detail := getPage(t, srv, tc.path, tc.q)
			if code != http.StatusBadRequest || !strings.HasPrefix(detail, tc.want) {
				t.Errorf("got %d %q, want 400 naming %s", code, detail, tc.want)
			}
		})
	}
}

func TestApplyOfNoObjectsIsAProblem(t *testing.T) {
	cp, _, _ := newPlane(t, t.TempDir())
	srv := httptest.NewServer(controlplane.NewAdminHandler(controlplane.AdminOptions{ControlPlane: cp}))
	defer srv.Close()
	for _, q := range []string{"", "&dryRun=true"} {
		res, err := http.Post(srv.URL+"/apis/wake.dev/v1/apply?source=empty.yaml"+q, "application/yaml", strings.NewReader("# to do\n---\n"))
		if err != nil {
			t.Fatal(err)
		}
		var p controlplane.Problem
		json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].String() != "empty.yaml: no objects passed to apply" {
			t.Errorf("%s: %d %+v", q, res.StatusCode, p)
		}
	}
}
