package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wakefn/wake/h1"
)

// pinTable routes hello 50/50 over hello-00001 (tagged "stable") and
// hello-00002 (tagged "next"), with hello-00003 at 0% tagged "dark" and
// the aliases canary → hello-00002 and old → hello-00001; sticky says
// whether the route is.
func pinTable(sticky bool) *Table {
	r := hello(
		Target{Revision: "hello-00001", Percent: 50, Tag: "stable"},
		Target{Revision: "hello-00002", Percent: 50, Tag: "next"},
		Target{Revision: "hello-00003", Percent: 0, Tag: "dark"},
	)
	r.Aliases = map[string]string{"canary": "hello-00002", "old": "hello-00001", "next": "hello-00001"}
	r.Sticky = sticky
	return NewTable("localhost", []Route{r})
}

// parseHead parses a request head for ResolveH1.
func parseHead(t testing.TB, host string, fields ...string) *h1.Request {
	t.Helper()
	head := "GET / HTTP/1.1\r\nHost: " + host + "\r\n" + strings.Join(fields, "") + "\r\n"
	var req h1.Request
	if err := req.Parse([]byte(head)); err != nil {
		t.Fatalf("parsing %q: %v", head, err)
	}
	return &req
}

func TestPinning(t *testing.T) {
	const split = "split" // either of the 50/50 revisions, by weight
	tests := []struct {
		name     string
		sticky   bool
		host     string
		fields   []string // "Name: value\r\n"
		want     string   // revision, or split
		wantSets bool     // a Set-Cookie naming the revision picked
	}{
		{"no header", false, "hello.default.localhost", nil, split, false},
		{"tag", false, "hello.default.localhost", []string{"Wake-Revision-Tag: dark\r\n"}, "hello-00003", false},
		{"revision name", false, "hello.default.localhost", []string{"wake-revision-tag: hello-00002\r\n"}, "hello-00002", false},
		{"alias", false, "hello.default.localhost:8080", []string{"Wake-Revision-Tag: canary\r\n"}, "hello-00002", false},
		{"a tag wins over an alias of its name", false, "hello.default.localhost", []string{"Wake-Revision-Tag: next\r\n"}, "hello-00002", false},
		{"Knative's header", false, "hello.default.localhost", []string{"Knative-Serving-Tag: stable\r\n"}, "hello-00001", false},
		{"wake's header wins over Knative's", false, "hello.default.localhost",
			[]string{"Knative-Serving-Tag: stable\r\n", "Wake-Revision-Tag: dark\r\n"}, "hello-00003", false},
		{"unknown tag: weighted", false, "hello.default.localhost", []string{"Wake-Revision-Tag: nosuch\r\n"}, split, false},
		{"empty tag: weighted", false, "hello.default.localhost", []string{"Wake-Revision-Tag: \r\n"}, split, false},
		{"tag host ignores the header", false, "stable-hello.default.localhost", []string{"Wake-Revision-Tag: dark\r\n"}, "hello-00001", false},
		{"mixed-case host", false, "Hello.Default.Localhost", []string{"Wake-Revision-Tag: dark\r\n"}, "hello-00003", false},
		{"cookie on a route that is not sticky", false, "hello.default.localhost", []string{"Cookie: wake-revision=hello-00002\r\n"}, split, false},
		{"sticky without a cookie", true, "hello.default.localhost", nil, split, true},
		{"sticky with a cookie", true, "hello.default.localhost", []string{"Cookie: a=1; wake-revision=hello-00002; b=2\r\n"}, "hello-00002", false},
		{"sticky with a quoted cookie", true, "hello.default.localhost", []string{"Cookie: wake-revision=\"hello-00001\"\r\n"}, "hello-00001", false},
		{"sticky, cookie names a 0% revision", true, "hello.default.localhost", []string{"Cookie: wake-revision=hello-00003\r\n"}, split, true},
		{"sticky, stale cookie", true, "hello.default.localhost", []string{"Cookie: wake-revision=hello-00000\r\n"}, split, true},
		{"sticky, the header wins over the cookie", true, "hello.default.localhost",
			[]string{"Cookie: wake-revision=hello-00001\r\n", "Wake-Revision-Tag: canary\r\n"}, "hello-00002", false},
		{"sticky, tag host sets no cookie", true, "next-hello.default.localhost", nil, "hello-00002", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(t *testing.T, p Pick, ok bool) {
				t.Helper()
				if !ok {
					t.Fatal("not found")
				}
				got := p.Revision.Name
				if tc.want == split {
					if got != "hello-00001" && got != "hello-00002" {
						t.Errorf("went to %q, want a revision of the split", got)
					}
				} else if got != tc.want {
					t.Errorf("went to %q, want %q", got, tc.want)
				}
				wantCookie := ""
				if tc.wantSets {
					wantCookie = "wake-revision=" + got + "; Path=/; HttpOnly; SameSite=Lax"
				}
				if p.SetCookie != wantCookie {
					t.Errorf("SetCookie = %q, want %q", p.SetCookie, wantCookie)
				}
			}
			rt := New(Options{Next: &recorder{}, Rand: seeded()})
			rt.SetTable(pinTable(tc.sticky))
			t.Run("fast", func(t *testing.T) {
				p, ok := rt.ResolveH1(parseHead(t, tc.host, tc.fields...))
				check(t, p, ok)
			})
			t.Run("net/http", func(t *testing.T) {
				r := httptest.NewRequest("GET", "/", nil)
				r.Host = tc.host
				for _, f := range tc.fields {
					name, value, _ := strings.Cut(strings.TrimSuffix(f, "\r\n"), ":")
					r.Header.Add(name, strings.TrimSpace(value))
				}
				p, ok := rt.ResolveRequest(r)
				check(t, p, ok)
			})
		})
	}
}

// Through ServeHTTP, the cookie is set on the response and keeps the
// client on its revision; a route without a split never sets one.
func TestStickyCookieOverHTTP(t *testing.T) {
	rt := New(Options{Next: &recorder{}})
	rt.SetTable(pinTable(true))
	srv := httptest.NewServer(rt)
	defer srv.Close()
	get := func(cookie string) (string, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Host = "hello.default.localhost"
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b), res.Header.Get("Set-Cookie")
	}
	rev, set := get("")
	if !strings.HasPrefix(set, "wake-revision="+rev+";") {
		t.Fatalf("first response went to %s with Set-Cookie %q", rev, set)
	}
	cookie, _, _ := strings.Cut(set, ";")
	for range 50 {
		if got, set := get(cookie); got != rev || set != "" {
			t.Fatalf("with %s: went to %s, Set-Cookie %q", cookie, got, set)
		}
	}

	one := hello(Target{Revision: "hello-00001", Percent: 100}, Target{Revision: "hello-00002", Tag: "next"})
	one.Sticky = true
	rt.SetTable(NewTable("localhost", []Route{one}))
	if _, set := get(""); set != "" {
		t.Errorf("a route without a split set the cookie %q", set)
	}
}

// The fast path's resolution allocates nothing, tag header, cookie or
// not; only a first Set-Cookie string is built with the table.
func TestResolveH1DoesNotAllocate(t *testing.T) {
	rt := New(Options{Next: &recorder{}})
	rt.SetTable(pinTable(true))
	for _, req := range []*h1.Request{
		parseHead(t, "hello.default.localhost:8080"),
		parseHead(t, "hello.default.localhost", "Wake-Revision-Tag: canary\r\n"),
		parseHead(t, "hello.default.localhost", "Cookie: x=y; wake-revision=hello-00002\r\n"),
		parseHead(t, "hello.default.localhost", "Wake-Revision-Tag: nosuch\r\n", "Cookie: wake-revision=bad\r\n"),
	} {
		if n := testing.AllocsPerRun(100, func() {
			if _, ok := rt.ResolveH1(req); !ok {
				t.Fatal("not found")
			}
		}); n != 0 {
			t.Errorf("ResolveH1 allocates %v times per request", n)
		}
	}
}

func TestCookieValue(t *testing.T) {
	for header, want := range map[string]string{
		"wake-revision=a":                  "a",
		"x=1; wake-revision=b":             "b",
		"x=1;wake-revision=c;y=2":          "c",
		" wake-revision = d ":              "d",
		`wake-revision="e"`:                "e",
		"wake-revisions=f":                 "",
		"xwake-revision=g":                 "",
		"wake-revision":                    "",
		"":                                 "",
		";;;=;wake-revision=h":             "h",
		"wake-revision=i; wake-revision=j": "i",
	} {
		if got := string(CookieValue([]byte(header), StickyCookie)); got != want {
			t.Errorf("CookieValue(%q) = %q, want %q", header, got, want)
		}
	}
}

func FuzzPinning(f *testing.F) {
	f.Add("canary", "wake-revision=hello-00001")
	f.Add("", `wake-revision="`)
	f.Add("hello-00003", ";=;")
	rt := New(Options{Next: &recorder{}})
	rt.SetTable(pinTable(true))
	f.Fuzz(func(t *testing.T, tag, cookie string) {
		v := CookieValue([]byte(cookie), StickyCookie)
		if len(v) > len(cookie) {
			t.Fatalf("CookieValue(%q) = %q, longer than its input", cookie, v)
		}
		head := "GET / HTTP/1.1\r\nHost: hello.default.localhost\r\nWake-Revision-Tag: " + tag + "\r\nCookie: " + cookie + "\r\n\r\n"
		var req h1.Request
		if req.Parse([]byte(head)) != nil {
			return // not a request the fast path takes
		}
		p, ok := rt.ResolveH1(&req)
		if !ok || !strings.HasPrefix(p.Revision.Name, "hello-0000") {
			t.Fatalf("tag %q, cookie %q: %+v, %v", tag, cookie, p, ok)
		}
	})
}
