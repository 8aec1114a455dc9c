package router

import (
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
)

// recorder is a RevisionHandler that remembers where requests went.
type recorder struct{ got []api.RevisionKey }

func (r *recorder) ServeRevision(w http.ResponseWriter, _ *http.Request, _ api.FunctionKey, rev api.RevisionKey) {
	r.got = append(r.got, rev)
	io.WriteString(w, rev.Name)
}

func hello(targets ...Target) Route {
	return Route{Function: api.FunctionKey{Namespace: "default", Name: "hello"}, Targets: targets}
}

func seeded() func(int) int {
	r := rand.New(rand.NewPCG(1, 2))
	return r.IntN
}

func TestWeightedChoice(t *testing.T) {
	tests := []struct {
		name    string
		targets []Target
		want    map[string]float64 // expected share per revision
	}{
		{"one revision", []Target{{Revision: "hello-00001", Percent: 100}}, map[string]float64{"hello-00001": 1}},
		{"80/20", []Target{{Revision: "hello-00001", Percent: 80}, {Revision: "hello-00002", Percent: 20}},
			map[string]float64{"hello-00001": .8, "hello-00002": .2}},
		{"90/10 with a 0% tag", []Target{
			{Revision: "hello-00001", Percent: 90}, {Revision: "hello-00002", Percent: 10}, {Revision: "hello-00003", Percent: 0, Tag: "next"}},
			map[string]float64{"hello-00001": .9, "hello-00002": .1}},
		{"three ways", []Target{{Revision: "a", Percent: 50}, {Revision: "b", Percent: 30}, {Revision: "c", Percent: 20}},
			map[string]float64{"a": .5, "b": .3, "c": .2}},
	}
	const n = 20000
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := New(Options{Next: &recorder{}, Rand: seeded()})
			rt.SetTable(NewTable("localhost", []Route{hello(tc.targets...)}))
			counts := map[string]int{}
			for range n {
				_, rev, ok := rt.Resolve("hello.default.localhost:8080")
				if !ok {
					t.Fatal("hello.default.localhost not found")
				}
				counts[rev.Name]++
			}
			for rev, share := range tc.want {
				got := float64(counts[rev]) / n
				if d := got - share; d > 0.02 || d < -0.02 {
					t.Errorf("revision %s got %.3f of requests, want %.2f ± 0.02", rev, got, share)
				}
			}
			for rev := range counts {
				if _, ok := tc.want[rev]; !ok {
					t.Errorf("revision %s got %d requests, want none", rev, counts[rev])
				}
			}
		})
	}
}

func TestHosts(t *testing.T) {
	table := NewTable("localhost", []Route{
		hello(Target{Revision: "hello-00001", Percent: 100}, Target{Revision: "hello-00002", Tag: "canary"}),
		{Function: api.FunctionKey{Namespace: "shop", Name: "cart"}, Targets: []Target{{Revision: "cart-00004", Percent: 100, Tag: "current"}}},
	})
	tests := []struct {
		host string
		want string // revision, "" for not found
	}{
		{"hello.default.localhost", "hello-00001"},
		{"hello.default.localhost:8080", "hello-00001"},
		{"HELLO.Default.LocalHost.", "hello-00001"},
		{"canary-hello.default.localhost", "hello-00002"},
		{"canary-hello.default.localhost:80", "hello-00002"},
		{"cart.shop.localhost", "cart-00004"},
		{"current-cart.shop.localhost", "cart-00004"},
		{"hello.shop.localhost", ""},
		{"hello.default.example.com", ""},
		{"localhost", ""},
		{"", ""},
		{"[::1]:8080", ""},
	}
	rt := New(Options{Next: &recorder{}})
	rt.SetTable(table)
	for _, tc := range tests {
		_, rev, ok := rt.Resolve(tc.host)
		if got := rev.Name; got != tc.want || ok != (tc.want != "") {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.host, got, ok, tc.want)
		}
	}
}

func TestFunctionHostWinsOverTagHost(t *testing.T) {
	table := NewTable("localhost", []Route{
		hello(Target{Revision: "hello-00001", Percent: 100}, Target{Revision: "hello-00002", Tag: "canary"}),
		{Function: api.FunctionKey{Namespace: "default", Name: "canary-hello"}, Targets: []Target{{Revision: "canary-hello-00001", Percent: 100}}},
	})
	if diff := cmp.Diff([]string{"canary-hello.default.localhost"}, table.Conflicts); diff != "" {
		t.Errorf("Conflicts (-want +got):\n%s", diff)
	}
	rt := New(Options{Next: &recorder{}})
	rt.SetTable(table)
	if _, rev, _ := rt.Resolve("canary-hello.default.localhost"); rev.Name != "canary-hello-00001" {
		t.Errorf("canary-hello.default.localhost went to %s, want the function canary-hello", rev.Name)
	}
}

func TestUnknownHostIs404NamingIt(t *testing.T) {
	rt := New(Options{Next: &recorder{}})
	srv := httptest.NewServer(rt)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Host = "nope.default.localhost"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"nope.default.localhost"`) {
		t.Errorf("got %d %q, want 404 naming the host", res.StatusCode, body)
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"a.b.c":            "a.b.c",
		"a.b.c:8080":       "a.b.c",
		"A.B.C.":           "a.b.c",
		"a.b.c.:1":         "a.b.c",
		"[::1]:80":         "[::1]",
		"[::1]":            "[::1]",
		"":                 "",
		"x.default.local:": "x.default.local",
	} {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzResolve(f *testing.F) {
	for _, s := range []string{"hello.default.localhost", "canary-hello.default.localhost:8080", "[::1]:80", ":", "..", "A.B"} {
		f.Add(s)
	}
	rt := New(Options{Next: &recorder{}})
	rt.SetTable(NewTable("localhost", []Route{hello(Target{Revision: "hello-00001", Percent: 60}, Target{Revision: "hello-00002", Percent: 40, Tag: "canary"})}))
	f.Fuzz(func(t *testing.T, host string) {
		_, rev, ok := rt.Resolve(host)
		if ok && rev.Name == "" {
			t.Errorf("Resolve(%q) found an empty revision", host)
		}
	})
}

func BenchmarkResolve(b *testing.B) {
	var routes []Route
	for i := range 1000 {
		routes = append(routes, Route{Function: api.FunctionKey{Namespace: "default", Name: "fn" + string(rune('a'+i%26)) + strings.Repeat("x", i%7)},
			Targets: []Target{{Revision: "r1", Percent: 90}, {Revision: "r2", Percent: 10}}})
	}
	routes = append(routes, hello(Target{Revision: "hello-00001", Percent: 90}, Target{Revision: "hello-00002", Percent: 10}))
	rt := New(Options{Next: &recorder{}})
	rt.SetTable(NewTable("localhost", routes))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := rt.Resolve("hello.default.localhost:8080"); !ok {
			b.Fatal("not found")
		}
	}
}
