// Package console owns wake's web console: the pages under /ui/ on the
// admin listener, the login that trades the admin token for a session
// cookie, the live stream (server-sent events) that feeds the pages, and
// the two edits a page may make (a function's traffic split, a trigger's
// rate limit).
//
// The stream is fed by the state the platform keeps anyway — the control
// plane's functions and triggers, the autoscaler's view and decisions, the
// activator's request counts, latency histograms and cold starts — read
// by one sampler for every viewer, and only while someone watches: an
// unwatched console costs nothing. The browser never polls /metrics.
//
// The assets are embedded in the binary and use no CDN, so the console
// works offline; they are plain HTML, CSS and JavaScript, with nothing to
// build.
package console
