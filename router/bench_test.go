package router

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	api "github.com/wakefn/wake/api/v1"
)

// benchFunctions is the table size of the lookup benchmarks: far more
// functions than one machine runs, so a lookup's cost is the map's at scale.
const benchFunctions = 10000

// benchTable returns a router over n functions spread over 10 namespaces,
// each with one revision taking all traffic and a tagged 0% revision, and
// 1024 hosts of random functions as a client sends them (with a port).
// The hosts are drawn up front so the loop measures the lookup, not rand.
func benchTable(n int) (*Router, []string) {
	routes := make([]Route, 0, n)
	for i := range n {
		fn := api.FunctionKey{Namespace: fmt.Sprintf("ns%d", i%10), Name: fmt.Sprintf("fn-%05d", i)}
		routes = append(routes, Route{Function: fn, Targets: []Target{
			{Revision: fn.Name + "-00002", Percent: 100},
			{Revision: fn.Name + "-00001", Percent: 0, Tag: "prev"},
		}})
	}
	rt := New(Options{Next: &recorder{}})
	rt.SetTable(NewTable("localhost", routes))
	r := rand.New(rand.NewPCG(1, 2))
	hosts := make([]string, 1024)
	for i := range hosts {
		k := r.IntN(n)
		hosts[i] = fmt.Sprintf("fn-%05d.ns%d.localhost:8080", k, k%10)
	}
	return rt, hosts
}

// BenchmarkLookup10k resolves hosts against a table of 10,000 functions:
// hits on random functions, a tag host, a miss, and a mixed-case host
// (the one case that allocates), through Resolve (net/http's Host string)
// and ResolveBytes (the fast path's request buffer).
func BenchmarkLookup10k(b *testing.B) {
	rt, hosts := benchTable(benchFunctions)
	if got := rt.Table().Len(); got != 2*benchFunctions {
		b.Fatalf("table has %d hosts, want %d", got, 2*benchFunctions)
	}
	const (
		tag   = "prev-fn-04242.ns2.localhost:8080"
		miss  = "nosuch.ns2.localhost:8080"
		upper = "FN-04242.NS2.Localhost:8080"
	)
	hostBytes := make([][]byte, len(hosts))
	for i, h := range hosts {
		hostBytes[i] = []byte(h)
	}

	b.Run("string/hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, _, ok := rt.Resolve(hosts[i&1023]); !ok {
				b.Fatal("not found")
			}
			i++
		}
	})
	single := func(host string, want bool) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := rt.Resolve(host); ok != want {
					b.Fatalf("Resolve(%q) found = %v, want %v", host, ok, want)
				}
			}
		}
	}
	b.Run("string/tag", single(tag, true))
	b.Run("string/miss", single(miss, false))
	b.Run("string/upper", single(upper, true))

	b.Run("bytes/hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, _, ok := rt.ResolveBytes(hostBytes[i&1023]); !ok {
				b.Fatal("not found")
			}
			i++
		}
	})
	singleBytes := func(host string, want bool) func(b *testing.B) {
		h := []byte(host)
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := rt.ResolveBytes(h); ok != want {
					b.Fatalf("ResolveBytes(%q) found = %v, want %v", host, ok, want)
				}
			}
		}
	}
	b.Run("bytes/tag", singleBytes(tag, true))
	b.Run("bytes/miss", singleBytes(miss, false))
	b.Run("bytes/upper", singleBytes(upper, true))
}

// BenchmarkWeightedChoice is the per-request revision choice of a function
// split over several revisions: "resolve" is the whole of it as a request
// pays it (lookup, the global goroutine-safe rand, the scan), "pick" the
// scan of the cumulative weights alone.
func BenchmarkWeightedChoice(b *testing.B) {
	for _, n := range []int{1, 2, 5} {
		targets := make([]Target, n)
		for i := range targets {
			targets[i] = Target{Revision: fmt.Sprintf("hello-%05d", i+1), Percent: 100 / n}
		}
		targets[n-1].Percent += 100 % n // sum to 100
		rt := New(Options{Next: &recorder{}})
		rt.SetTable(NewTable("localhost", []Route{hello(targets...)}))

		b.Run(fmt.Sprintf("resolve/targets=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, rev, ok := rt.Resolve("hello.default.localhost:8080"); !ok || !strings.HasPrefix(rev.Name, "hello-") {
					b.Fatalf("Resolve = %v, %v", rev, ok)
				}
			}
		})
		e := rt.Table().lookup("hello.default.localhost")
		draws := make([]int, 128) // drawn up front: the scan alone
		for i := range draws {
			draws[i] = rand.IntN(e.total)
		}
		b.Run(fmt.Sprintf("pick/targets=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if rev := e.choices[e.index(draws[i&127])].rev; rev.Name == "" {
					b.Fatal("empty revision")
				}
				i++
			}
		})
	}
}

// BenchmarkResolveH1 is the fast path's whole routing of a request over a
// sticky 50/50 split: without pinning (the weighted pick and its cookie),
// with the tag header, and with the cookie. None allocates.
func BenchmarkResolveH1(b *testing.B) {
	rt := New(Options{Next: &recorder{}})
	rt.SetTable(pinTable(true))
	for _, bc := range []struct{ name, fields string }{
		{"plain", ""},
		{"tag", "Wake-Revision-Tag: canary\r\n"},
		{"cookie", "Cookie: session=abc; wake-revision=hello-00002\r\n"},
	} {
		req := parseHead(b, "hello.default.localhost:8080", "User-Agent: bench\r\n", "Accept: */*\r\n", bc.fields)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := rt.ResolveH1(req); !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}
