package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	api "github.com/wakefn/wake/api/v1"
)

// browserRequiredEnv makes a missing Chromium fail the console's browser
// test instead of skipping it; make test sets it once
// hack/install-chromium.sh has installed Debian's chromium.
const browserRequiredEnv = "WAKE_BROWSER_REQUIRED"

// chromium finds the browser: $WAKE_CHROMIUM, else Debian's.
func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("WAKE_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv(browserRequiredEnv) != "" {
		t.Fatalf("no Chromium found (tried %s), and %s is set: run hack/install-chromium.sh", strings.Join(candidates[1:], ", "), browserRequiredEnv)
	}
	t.Skip("no Chromium: hack/install-chromium.sh installs Debian's (make test does)")
	return ""
}

// artifacts is where a test leaves what a person may want to look at
// (screenshots): $WAKE_E2E_ARTIFACTS/TEST, else e2e/artifacts/TEST.
func artifacts(t *testing.T) string {
	t.Helper()
	root := os.Getenv("WAKE_E2E_ARTIFACTS")
	if root == "" {
		root = "artifacts"
	}
	dir, err := filepath.Abs(filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_")))
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium, with a fresh profile, closed when the
// test ends.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // screenshots
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	bin := chromium(t)
	// The flags keep Chromium off the network this machine does not have
	// (its background fetches are refused, many at a time) and out of
	// the sandbox, which needs privileges a test runner may lack.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1100),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// A script error on the page fails the test, even where what the test
	// looks at still works.
	var mu sync.Mutex
	var thrown []string
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf), chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*cdpruntime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
			msg := e.ExceptionDetails.Text
			if ex := e.ExceptionDetails.Exception; ex != nil && ex.Description != "" {
				msg += " " + ex.Description
			}
			mu.Lock()
			thrown = append(thrown, msg)
			mu.Unlock()
		}
	}))
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		mu.Lock()
		defer mu.Unlock()
		for _, msg := range thrown {
			t.Errorf("the page threw: %s", msg)
		}
	})
	return &browser{t: t, ctx: ctx, dir: artifacts(t)}
}

// run runs actions, failing the test after timeout.
func (b *browser) run(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// screenshot saves the whole page as NAME.png among the test's artifacts.
func (b *browser) screenshot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 makes a PNG; less, a JPEG
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}

// text returns the text of the first element sel matches, waiting for it.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(eval(b, "reading "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// eval runs one action that returns a value.
func eval[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitFor waits until the JavaScript expression is true.
func (b *browser) waitFor(what, expr string, timeout time.Duration) {
	b.t.Helper()
	b.run("waiting for "+what, timeout+5*time.Second, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(20*time.Millisecond)))
}

// typeInto replaces an input's value by typing, as a user would: it
// deletes what is there with Backspace and Delete (chromedp.Clear resets
// only the value attribute, not what was typed), then types value.
func typeInto(sel, value string) chromedp.Action[chromedp.Void] {
	erase := strings.Repeat(kb.Backspace, 12) + strings.Repeat(kb.Delete, 12)
	return chromedp.SendKeys(chromedp.CSS(sel), erase+value)
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The console, driven in a real browser as a user would: log in, see a
// function asleep, watch it wake, move its split, watch the router follow,
// cap a trigger's rate, log out.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	w := startWake(t, "")
	m := marker(t)
	scale := map[string]string{api.AnnotationInitialScale: "0"}
	w.apply(fn{name: "shop", marker: m, annotations: scale, env: map[string]string{"GREETING": "v1"}}.yaml())
	b := newBrowser(t)
	ui := "http://" + w.admin + "/ui/"

	// No session: the login page, never data; the stream refuses too.
	b.run("opening the console", 30*time.Second, chromedp.Navigate(ui), chromedp.WaitVisible(chromedp.CSS("#token")))
	path := eval(b, "reading the login page's address", chromedp.Evaluate[string](`location.pathname`))
	body := b.text("body")
	if path != "/ui/login" || strings.Contains(body, "shop") {
		t.Fatalf("without a session the console showed %s with %q; want the login page and no function", path, body)
	}
	res, err := http.Get(ui + "api/stream")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the stream without a session answered %d, want 401", res.StatusCode)
	}
	b.screenshot("01-login")

	b.run("logging in with a wrong token", 30*time.Second,
		typeInto("#token", "not-the-token"), chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if msg := b.text("#login-error"); !strings.Contains(msg, "not this server's admin token") {
		t.Errorf("a wrong token said %q", msg)
	}
	b.run("logging in", 30*time.Second,
		typeInto("#token", w.token()), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-fn="default/shop"] .instances`)))

	// Asleep, then woken by a request: the page follows within a second of
	// the instance being ready (the held request is answered then).
	row := `tr[data-fn="default/shop"]`
	b.waitFor("shop asleep", fmt.Sprintf(`document.querySelector(%s)?.textContent === "asleep"`, jsString(row+" .instances")), 10*time.Second)
	b.screenshot("02-functions-asleep")
	eval(b, "watching the instances", chromedp.Evaluate[bool](fmt.Sprintf(`
		window.wokeAt = 0;
		new MutationObserver(() => {
			const e = document.querySelector(%s);
			if (!window.wokeAt && e && e.textContent === "1") window.wokeAt = Date.now();
		}).observe(document.getElementById("main"), {subtree: true, childList: true, characterData: true});
		true`, jsString(row+" .instances"))))
	if r := w.mustGet("shop.default.localhost", "/"); r.code != 200 || r.body != "shop-00001 v1\n" {
		t.Fatalf("first request: %d %q", r.code, r.body)
	}
	answered := time.Now().UnixMilli()
	b.waitFor("shop awake", `window.wokeAt > 0`, 10*time.Second)
	wokeAt := eval(b, "reading when the page changed", chromedp.Evaluate[int64](`window.wokeAt`))
	lag := time.Duration(wokeAt-answered) * time.Millisecond
	t.Logf("the page showed shop awake %v after its first request was answered", lag)
	if lag > time.Second {
		t.Errorf("the page showed the instance %v after the request it woke for was answered; want within a second", lag)
	}
	b.waitFor("a cold start listed", fmt.Sprintf(`(document.querySelector(%s)?.textContent || "").includes("shop-00001")`, jsString(row+" .cold")), 5*time.Second)
	// The p95 is of what clients saw: the request that waited for the
	// start is in it, and counted as cold.
	b.waitFor("the cold request in the p95", fmt.Sprintf(`(document.querySelector(%s)?.textContent || "").endsWith(" · 1 cold")`, jsString(row+" .p95")), 5*time.Second)
	b.screenshot("03-functions-awake")

	// A second revision, then the split moved to 70/30 in the editor.
	w.apply(fn{name: "shop", marker: m, annotations: scale, env: map[string]string{"GREETING": "v2"}}.yaml())
	b.run("opening shop", 30*time.Second, chromedp.Click(chromedp.CSS(row+" .name a")),
		chromedp.WaitVisible(chromedp.CSS(`#traffic-editor tr[data-row="shop-00002"] input.percent`)))
	// Its chart begins before the page opened: the autoscaler kept the
	// wake-up in its trace.
	b.waitFor("shop-00001's chart from before the page opened",
		fmt.Sprintf(`Number(document.querySelector('#chart-shop-00001 svg')?.dataset.first) < %d`, answered), 10*time.Second)
	percent := func(rev string) string { return fmt.Sprintf(`#traffic-editor tr[data-row=%q] input.percent`, rev) }
	// One row per revision: shop-00002, where @latest goes now, holds the
	// @latest share, and unchecking "follows @latest" pins it there.
	b.waitFor("shop-00002 following @latest", `document.querySelector('#traffic-editor tr[data-row="shop-00002"] input.follow')?.checked === true && `+
		`document.querySelectorAll('#traffic-editor tbody tr').length === 2`, 5*time.Second)
	b.run("a split that does not sum to 100", 30*time.Second,
		chromedp.Click(chromedp.CSS(`#traffic-editor tr[data-row="shop-00002"] input.follow`)),
		typeInto(percent("shop-00001"), "20"), typeInto(percent("shop-00002"), "70"),
		chromedp.Click(chromedp.CSS("#traffic-apply")), chromedp.WaitVisible(chromedp.CSS("#traffic-errors li.problem")))
	shown := b.text("#traffic-errors li.problem")
	_, cliErr, err := w.cli("traffic", "shop", "--to", "shop-00001=20", "--to", "shop-00002=70")
	if err == nil || !strings.Contains(cliErr, shown) {
		t.Errorf("the console said %q; wake traffic with the same split said %q (err %v): want the same message", shown, cliErr, err)
	}
	b.screenshot("04-split-refused")
	b.run("a 30/70 split", 30*time.Second,
		typeInto(percent("shop-00001"), "30"), chromedp.Click(chromedp.CSS("#traffic-apply")))
	b.waitFor("the split applied", `document.getElementById("traffic-notice")?.textContent === "Split applied."`, 10*time.Second)
	b.waitFor("the revisions table following", `document.querySelector('#revisions-table tr[data-revision="shop-00001"] .percent')?.textContent === "30%"`, 5*time.Second)

	got := w.function("shop").Spec.Traffic
	if len(got) != 2 || got[0].RevisionName != "shop-00001" || got[0].PercentOrZero() != 30 || got[1].RevisionName != "shop-00002" || got[1].PercentOrZero() != 70 {
		t.Fatalf("after the console's edit spec.traffic is %+v, want shop-00001 30%%, shop-00002 70%%", got)
	}
	counts := countRevisions(w, "shop.default.localhost", 400)
	t.Logf("400 requests after the console's 30/70: %v", counts)
	// 70% of 400 is 280, σ ≈ 9.2: ±40 is over four σ.
	if n := counts["shop-00002"]; n < 240 || n > 320 || counts["shop-00001"]+n != 400 {
		t.Errorf("the router split 400 requests %v, want about 280 to shop-00002 and the rest to shop-00001", counts)
	}
	// A tag, added and then moved, as a user would in the editor.
	tag := func(rev string) string { return fmt.Sprintf(`#traffic-editor tr[data-row=%q] input.tag`, rev) }
	applied := `document.getElementById("traffic-notice")?.textContent === "Split applied."`
	b.run("tagging shop-00002 canary", 30*time.Second, typeInto(tag("shop-00002"), "canary"), chromedp.Click(chromedp.CSS("#traffic-apply")))
	b.waitFor("the tag applied", applied, 10*time.Second)
	if r := w.mustGet("canary-shop.default.localhost", "/"); r.body != "shop-00002 v2\n" {
		t.Errorf("canary-shop after tagging shop-00002: %d %q", r.code, r.body)
	}
	b.run("moving canary to shop-00001", 30*time.Second, typeInto(tag("shop-00002"), ""), typeInto(tag("shop-00001"), "canary"),
		chromedp.Click(chromedp.CSS("#traffic-apply")))
	b.waitFor("the tag moved", applied+` && document.querySelector('#revisions-table tr[data-revision="shop-00001"] .tags')?.textContent === "canary"`, 10*time.Second)
	if r := w.mustGet("canary-shop.default.localhost", "/"); r.body != "shop-00001 v1\n" {
		t.Errorf("canary-shop after moving the tag to shop-00001: %d %q", r.code, r.body)
	}
	b.waitFor("a chart for each revision", `document.querySelectorAll('#charts .chart path.series-ready').length === 2`, 10*time.Second)
	b.waitFor("cold starts of both", `document.querySelectorAll('#coldstarts-table tbody tr').length >= 2`, 10*time.Second)
	b.waitFor("the instance's logs", `(document.getElementById("logs")?.textContent || "").includes("testfn: shop-0000")`, 10*time.Second)
	b.screenshot("05-function-detail")

	// A trigger's rate limit, edited on the triggers page.
	w.apply(`apiVersion: wake.dev/v1
kind: Trigger
metadata:
  name: nightly
spec:
  cron:
    schedule: "0 3 * * *"
  sink:
    function: shop
`)
	trig := `tr[data-trigger="default/nightly"]`
	b.run("opening the triggers", 30*time.Second, chromedp.Click(chromedp.CSS("#nav-triggers")), chromedp.WaitVisible(chromedp.CSS(trig+" .rate input")))
	if src := b.text(trig + " .source"); src != `cron "0 3 * * *" UTC` {
		t.Errorf("the trigger's source reads %q", src)
	}
	b.run("a rate of -1", 30*time.Second, typeInto(trig+" .rate input", "-1"), chromedp.Click(chromedp.CSS(trig+" .rate button.set")))
	b.waitFor("the rate refused", fmt.Sprintf(`(document.querySelector(%s)?.textContent || "").includes("must be more than 0")`, jsString(trig+" .rate .err")), 10*time.Second)
	b.run("a rate of 5", 30*time.Second, typeInto(trig+" .rate input", "5"), chromedp.Click(chromedp.CSS(trig+" .rate button.set")))
	b.waitFor("the rate shown", fmt.Sprintf(`document.querySelector(%s)?.textContent === "5/s"`, jsString(trig+" .rate .current")), 10*time.Second)
	var tl api.TriggerList
	if err := json.Unmarshal([]byte(w.mustCLI("get", "triggers", "-o", "json")), &tl); err != nil || len(tl.Items) != 1 ||
		tl.Items[0].Spec.RateLimit == nil || *tl.Items[0].Spec.RateLimit != 5 {
		t.Errorf("after the console set 5/s, wake get triggers says %+v (%v)", tl.Items, err)
	}
	b.screenshot("06-triggers")

	b.run("logging out", 30*time.Second, chromedp.Click(chromedp.CSS("#logout button")), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.Navigate(ui), chromedp.WaitVisible(chromedp.CSS("#token")))
}
