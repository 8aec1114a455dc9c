package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	api "github.com/wakefn/wake/api/v1"
)

// expect waits until the JavaScript expression is true, as waitFor does,
// but a timeout fails the test without ending it (with a screenshot), so
// that one run shows every check that fails.
func (b *browser) expect(what, expr string, timeout time.Duration) bool {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Errorf("%s: not so within %v (%v)", what, timeout, err)
		return false
	}
	return true
}

// oneLineJS is a JavaScript function that says whether an element's text
// lies on one line: its height is under one and a half of its line.
const oneLineJS = `((e) => {
	const r = document.createRange(); r.selectNodeContents(e);
	const h = r.getBoundingClientRect().height, line = parseFloat(getComputedStyle(e).lineHeight);
	return h > 0 && h < 1.5 * line;
})`

// TestConsoleSaysWhatFails: a new user's look at the console (issue 21):
// the admin address sends a browser to the console; a crash-looping
// function and one that never listens are not "asleep"; a failing
// revision without traffic is a note that names it, not the function's
// red badge; nothing wraps at 1400 px and the bar's share labels show; a
// revision is one row of the traffic editor; the logs follow every
// revision with traffic; an empty triggers page says how to make one.
func TestConsoleSaysWhatFails(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	m := marker(t)
	zero := map[string]string{api.AnnotationInitialScale: "0"}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a port nothing answers on once closed
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	w.apply(fn{name: "crash-looping", marker: m, env: map[string]string{"TESTFN_EXIT_AT_START": "3"}}.yaml(), "--no-wait")
	w.apply(fn{name: "never-listening", marker: m, env: map[string]string{"TESTFN_PORT": elsewhere}}.yaml(), "--no-wait")
	w.apply(fn{name: "pinned-to-one", marker: m, annotations: zero}.yaml())
	w.apply(fn{name: "pinned-to-one", marker: m, env: map[string]string{"TESTFN_EXIT_AT_START": "3"},
		traffic: "  - revisionName: pinned-to-one-00001\n    percent: 100\n"}.yaml(), "--no-wait")
	w.apply(fn{name: "split-ninety-ten", marker: m, annotations: zero}.yaml())
	w.apply(fn{name: "split-ninety-ten", marker: m, annotations: zero, env: map[string]string{"GREETING": "v2"},
		traffic: "  - revisionName: split-ninety-ten-00001\n    percent: 90\n  - latestRevision: true\n    percent: 10\n"}.yaml())
	// Both revisions of the split serve, so both have instances and logs.
	seen := map[string]bool{}
	for i := 0; i < 300 && len(seen) < 2; i++ {
		if r := w.mustGet("split-ninety-ten.default.localhost", "/"); r.code == 200 {
			seen[strings.Fields(r.body)[0]] = true
		}
	}
	if len(seen) < 2 {
		t.Fatalf("300 requests reached only %v of split-ninety-ten", seen)
	}
	// And go on serving while the browser looks: requests/s and p95 are of
	// the last 10 s.
	ctx, stop := context.WithCancel(context.Background())
	loaded := make(chan struct{})
	t.Cleanup(func() { stop(); <-loaded })
	go func() {
		defer close(loaded)
		for ctx.Err() == nil {
			w.request(ctx, http.MethodGet, "split-ninety-ten.default.localhost", "/", nil)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	// The admin address, opened in a browser, is the console; the CLI's
	// clients still get the API's 401.
	root := "http://" + w.admin + "/"
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		accept string
		code   int
		where  string
	}{
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", http.StatusSeeOther, "/ui/"},
		{"", http.StatusUnauthorized, ""},
		{"application/json", http.StatusUnauthorized, ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, root, nil)
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != c.code || res.Header.Get("Location") != c.where {
			t.Errorf("GET / with Accept %q answered %d to %q, want %d to %q", c.accept, res.StatusCode, res.Header.Get("Location"), c.code, c.where)
		}
	}
	b := newBrowser(t)
	b.run("opening the admin address", 30*time.Second, chromedp.Navigate(root))
	b.expect("the admin address showing the login", `location.pathname === "/ui/login" && !!document.getElementById("token")`, 5*time.Second)
	b.run("logging in", 30*time.Second, chromedp.Navigate("http://"+w.admin+"/ui/login"), chromedp.WaitVisible(chromedp.CSS("#token")),
		typeInto("#token", w.token()), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-fn="default/split-ninety-ten"] .instances`)))

	row := func(name, cell string) string {
		return jsString(fmt.Sprintf(`tr[data-fn="default/%s"] %s`, name, cell))
	}
	text := func(name, cell string) string {
		return fmt.Sprintf(`(document.querySelector(%s)?.textContent || "")`, row(name, cell))
	}
	b.expect("crash-looping failing, with its reason",
		text("crash-looping", ".ready")+`.includes("CrashLoopBackOff") && `+text("crash-looping", ".instances")+` === "failing"`, 60*time.Second)
	b.expect("never-listening not asleep",
		`["starting", "failing"].includes(`+text("never-listening", ".instances")+`)`, 10*time.Second)
	b.expect("pinned-to-one ready, with a note on its failing revision without traffic",
		text("pinned-to-one", ".ready .badge")+` === "Ready" && `+text("pinned-to-one", ".ready .note")+` === "pinned-to-one-00002 (no traffic): CrashLoopBackOff"`, 60*time.Second)
	b.expect("split-ninety-ten awake", text("split-ninety-ten", ".p95")+`.endsWith("ms")`, 15*time.Second)
	// 1400 px (the browser's width): names, URLs and numbers on one line,
	// and every share's label whole on its bar.
	b.expect("names, URLs and numbers on one line", fmt.Sprintf(`Array.from(document.querySelectorAll(
		"#functions-table tbody td.name a.fn, #functions-table tbody td.name .url, #functions-table tbody td.latest, #functions-table tbody td.num")).every(%s) &&
		document.querySelector("#functions-table").getBoundingClientRect().right <= document.documentElement.clientWidth`, oneLineJS), 5*time.Second)
	b.expect("the split's labels whole", fmt.Sprintf(`(() => {
		const segs = Array.from(document.querySelectorAll(%s));
		return segs.length === 2 && segs.every((s) => s.scrollWidth <= s.clientWidth && s.textContent.endsWith("%%"));
	})()`, row("split-ninety-ten", ".split span")), 5*time.Second)
	b.screenshot("01-functions")

	// No triggers: the page says how to make one.
	b.run("opening the triggers", 30*time.Second, chromedp.Click(chromedp.CSS("#nav-triggers")), chromedp.WaitVisible(chromedp.CSS("#triggers-empty")))
	if s := b.text("#triggers-empty"); !strings.Contains(s, "kind: Trigger") || !strings.Contains(s, "wake apply") {
		t.Errorf("the empty triggers page says %q; want how to create one", s)
	}
	b.screenshot("02-no-triggers")

	// The split's page: one editor row per revision, the logs of both.
	b.run("opening split-ninety-ten", 30*time.Second, chromedp.Click(chromedp.CSS("#nav-functions")),
		chromedp.Click(chromedp.CSS(`tr[data-fn="default/split-ninety-ten"] .name a`)),
		chromedp.WaitVisible(chromedp.CSS(`#traffic-editor tbody tr`)))
	b.expect("one editor row per revision", `(() => {
		const labels = Array.from(document.querySelectorAll("#traffic-editor tbody tr .label")).map((e) => e.textContent);
		return labels.length === 2 && labels.filter((l) => l.includes("split-ninety-ten-00002")).length === 1;
	})()`, 5*time.Second)
	b.expect("the revisions' names and numbers on one line", fmt.Sprintf(`Array.from(document.querySelectorAll(
		"#revisions-table tbody td.name, #revisions-table tbody td.num")).every(%s)`, oneLineJS), 5*time.Second)
	logs := `(document.getElementById("logs")?.textContent || "")`
	b.expect("the logs of both revisions with traffic", logs+`.includes("] testfn: split-ninety-ten-00001 listening") && `+
		logs+`.includes("] testfn: split-ninety-ten-00002 listening")`, 10*time.Second)
	b.screenshot("03-split")
	eval(b, "picking split-ninety-ten-00001's logs", chromedp.Evaluate[bool](`(() => {
		const s = document.getElementById("logs-revision");
		s.value = "split-ninety-ten-00001"; s.dispatchEvent(new Event("change"));
		return true;
	})()`))
	b.expect("the logs of the revision picked only", logs+`.includes("testfn: split-ninety-ten-00001 listening") && !`+
		logs+`.includes("split-ninety-ten-00002")`, 10*time.Second)

	// The crash-looping function's page says which revision fails and why.
	b.run("opening crash-looping", 30*time.Second, chromedp.Click(chromedp.CSS("#nav-functions")),
		chromedp.Click(chromedp.CSS(`tr[data-fn="default/crash-looping"] .name a`)),
		chromedp.WaitVisible(chromedp.CSS(`#revisions-table tr[data-revision="crash-looping-00001"]`)))
	b.expect("the failing revision's reason and message", `(document.querySelector('#revisions-table tr[data-revision="crash-looping-00001"] .ready')?.textContent || "").includes("CrashLoopBackOff") &&
		(document.getElementById("fn-summary")?.textContent || "").includes("exiting at start as asked")`, 10*time.Second)
	b.screenshot("04-crash-looping")
}
