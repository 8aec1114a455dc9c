package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	api "github.com/wakefn/wake/api/v1"
)

func (s *server) function(name string) api.Function {
	s.t.Helper()
	var fn api.Function
	if err := json.Unmarshal([]byte(s.mustCLI("get", "functions", name, "-o", "json")), &fn); err != nil {
		s.t.Fatal(err)
	}
	if fn.Kind != api.KindFunction || fn.Name != name {
		s.t.Fatalf("wake get functions %s -o json printed a %s named %q, want the function", name, fn.Kind, fn.Name)
	}
	return fn
}

// countRevisions sends n GETs to host, one after another, and counts them by
// the revision that answered (testfn answers "REVISION GREETING"); it
// fails the test on any other answer.
func countRevisions(w *server, host string, n int) map[string]int {
	w.t.Helper()
	counts := map[string]int{}
	for range n {
		r := w.mustGet(host, "/")
		if r.code != 200 {
			w.t.Fatalf("GET %s: %d %s", host, r.code, r.body)
		}
		counts[strings.Fields(r.body)[0]]++
	}
	return counts
}

// canary applies two revisions of "shop": v1, then v2 with the given split.
func canary(t *testing.T, w *server, m string, split string) {
	t.Helper()
	w.apply(fn{name: "shop", marker: m, env: map[string]string{"GREETING": "v1"}}.yaml())
	w.apply(fn{name: "shop", marker: m, env: map[string]string{"GREETING": "v2"}, traffic: split}.yaml())
}

func TestTrafficSplitsByWeight(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	canary(t, w, marker(t), `  - revisionName: shop-00001
    percent: 80
  - latestRevision: true
    percent: 20
`)
	const n = 2000
	counts := countRevisions(w, "shop.default.localhost", n)
	for rev, want := range map[string]float64{"shop-00001": .8, "shop-00002": .2} {
		if got := float64(counts[rev]) / n; got < want-0.05 || got > want+0.05 {
			t.Errorf("%s served %.3f of %d requests, want %.2f ± 0.05 (all: %v)", rev, got, n, want, counts)
		}
	}
}

func TestTagHostAlwaysReachesItsRevision(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	canary(t, w, marker(t), `  - revisionName: shop-00001
    percent: 90
  - latestRevision: true
    percent: 10
    tag: canary
`)
	for range 100 {
		if r := w.mustGet("canary-shop.default.localhost", "/"); r.body != "shop-00002 v2\n" {
			t.Fatalf("tag host answered %d %q, want shop-00002", r.code, r.body)
		}
	}
	f := w.function("shop")
	want := fmt.Sprintf("http://canary-shop.default.localhost:%s", port(w.http))
	var got string
	for _, tr := range f.Status.Traffic {
		if tr.Tag == "canary" {
			got = tr.URL
		}
	}
	if got != want {
		t.Errorf("status.traffic URL of tag canary is %q, want %q", got, want)
	}

	// `wake traffic` moves everything to the canary and keeps its tag.
	w.mustCLI("traffic", "shop", "--to", "@latest=100")
	for range 20 {
		if r := w.mustGet("shop.default.localhost", "/"); r.body != "shop-00002 v2\n" {
			t.Fatalf("after wake traffic --to @latest=100: %q", r.body)
		}
	}
	if r := w.mustGet("canary-shop.default.localhost", "/"); r.code != 200 {
		t.Errorf("tag host after moving traffic: %d", r.code)
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func TestUnknownHostIs404NamingIt(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	r := w.mustGet("nothing.default.localhost", "/")
	if r.code != 404 || !strings.Contains(r.body, `"nothing.default.localhost"`) {
		t.Errorf("got %d %q, want 404 naming the host", r.code, r.body)
	}
}

func TestBadManifestIsRejectedWithEveryProblemAndItsLine(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	bad := `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: Bad_Name
spec:
  template:
    spec:
      containerConcurrency: -1
      containers:
        - image: example.com/fn
          bogus: true
  traffic:
    - latestRevision: true
      percent: 140
`
	file := writeManifest(t, bad)
	_, stderr, err := w.cli("apply", "-f", file)
	if err == nil {
		t.Fatal("wake apply of a bad manifest succeeded")
	}
	for _, want := range []string{
		file + ":11: spec.template.spec.containers[0].bogus",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	// Once it decodes, every validation problem is listed at once.
	bad = strings.Replace(bad, "          bogus: true\n", "", 1)
	file = writeManifest(t, bad)
	_, stderr, err = w.cli("apply", "-f", file)
	if err == nil {
		t.Fatal("wake apply of an invalid manifest succeeded")
	}
	for _, want := range []string{
		file + ":4: metadata.name",
		file + ":8: spec.template.spec.containerConcurrency",
		file + ":13: spec.traffic[0].percent: must be between 0 and 100, got 140",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	// The admin API says the same, as a 400 with the problems as JSON.
	res, err := w.adminDo(http.MethodPost, "/apis/wake.dev/v1/apply?source=bad.yaml", "application/yaml", strings.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var problem struct {
		Errors []api.FieldError `json:"errors"`
	}
	if res.StatusCode != 400 || json.Unmarshal(body, &problem) != nil || len(problem.Errors) < 3 {
		t.Errorf("admin API: %d %s, want 400 with every problem", res.StatusCode, body)
	}
}

func TestH2CEndToEnd(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	w.apply(fn{name: "grpcish", marker: marker(t), h2c: true, env: map[string]string{"TESTFN_H2C": "1"}}.yaml())
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &p}}
	req, _ := http.NewRequest("POST", "http://"+w.http+"/trailer", strings.NewReader("x"))
	req.Host = "grpcish.default.localhost"
	res, err := h2c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	if res.Proto != "HTTP/2.0" || res.Trailer.Get("X-Testfn-Trailer") != "done" {
		t.Errorf("got %s with trailer %q, want HTTP/2.0 with the function's trailer", res.Proto, res.Trailer.Get("X-Testfn-Trailer"))
	}
	req, _ = http.NewRequest("GET", "http://"+w.http+"/proto", nil)
	req.Host = "grpcish.default.localhost"
	res, err = h2c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "HTTP/2.0\n" {
		t.Errorf("the function saw %q, want HTTP/2.0 on the wake → instance hop", body)
	}
}
