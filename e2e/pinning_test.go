package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// getWith sends GET / to host with extra request headers, and returns the
// revision that answered (testfn's first word) and the response header.
func (s *server) getWith(host string, header map[string]string) (string, http.Header) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+s.http+"/", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		s.t.Fatalf("GET %s: %d %q %v", host, res.StatusCode, b, err)
	}
	return strings.Fields(string(b) + " ?")[0], res.Header
}

// A 50/50 split set with `wake traffic`, one revision tagged: the tag
// header pins every request to the tagged revision, and a client that
// keeps the sticky cookie it is given stays on one revision.
func TestPinToARevision(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	m := marker(t)
	w.apply(fn{name: "shop", marker: m, env: map[string]string{"GREETING": "v1"}}.yaml())
	w.apply(fn{name: "shop", marker: m, env: map[string]string{"GREETING": "v2"}}.yaml())
	w.mustCLI("traffic", "shop", "--to", "shop-00001=50", "--to", "shop-00002=50", "--tag", "shop-00001=old")
	const host = "shop.default.localhost"

	for _, h := range []map[string]string{
		{"Wake-Revision-Tag": "old"},
		{"Knative-Serving-Tag": "old"},
		{"Wake-Revision-Tag": "shop-00001"},
		// The header wins over a cookie naming the other revision.
		{"Wake-Revision-Tag": "old", "Cookie": "wake-revision=shop-00002"},
	} {
		for i := range 50 {
			rev, hdr := w.getWith(host, h)
			if rev != "shop-00001" {
				t.Fatalf("request %d with %v went to %s, want shop-00001", i, h, rev)
			}
			if c := hdr.Get("Set-Cookie"); c != "" {
				t.Fatalf("request %d pinned by %v was given a cookie %q", i, h, c)
			}
		}
	}

	// An unknown tag is routed by weight, like no tag at all.
	seen := map[string]int{}
	for range 100 {
		rev, _ := w.getWith(host, map[string]string{"Wake-Revision-Tag": "nosuch"})
		seen[rev]++
	}
	if seen["shop-00001"] == 0 || seen["shop-00002"] == 0 {
		t.Errorf("an unknown tag over 100 requests went to %v, want both revisions", seen)
	}

	// Sticky: cookie-less clients get a cookie naming where they went,
	// and sending it back keeps them there.
	for client := range 4 {
		rev, hdr := w.getWith(host, nil)
		set := hdr.Get("Set-Cookie")
		if want := "wake-revision=" + rev + "; Path=/; HttpOnly; SameSite=Lax"; set != want {
			t.Fatalf("client %d: Set-Cookie %q, want %q", client, set, want)
		}
		cookie, _, _ := strings.Cut(set, ";")
		for i := range 50 {
			got, hdr := w.getWith(host, map[string]string{"Cookie": cookie})
			if got != rev || hdr.Get("Set-Cookie") != "" {
				t.Fatalf("client %d, request %d with %s: went to %s, Set-Cookie %q; want %s and no new cookie",
					client, i, cookie, got, hdr.Get("Set-Cookie"), rev)
			}
		}
	}

	// Without a split there is nothing to stick to: no cookie.
	w.mustCLI("traffic", "shop", "--to", "shop-00002=100")
	if _, hdr := w.getWith(host, nil); hdr.Get("Set-Cookie") != "" {
		t.Errorf("a function without a split set the cookie %q", hdr.Get("Set-Cookie"))
	}
}
