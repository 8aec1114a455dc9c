package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"
)

// cookieName holds a session's ID. The cookie is HttpOnly (no script
// reads it), SameSite=Strict (no other site's page sends it, so no other
// site can act through it) and scoped to the console's path.
const cookieName = "wake_session"

// maxSessions bounds what logins cost in memory: past it the session
// closest to expiry goes.
const maxSessions = 1000

// sessions are the console's logins: random 256-bit IDs, kept as their
// SHA-256 so that the map holds nothing a cookie could be forged from,
// each with its expiry. They live in memory: a restart of wake serve
// logs every page out, which then asks for the token again.
type sessions struct {
	clock clock.PassiveClock
	ttl   time.Duration

	mu      sync.Mutex
	expires map[[sha256.Size]byte]time.Time
}

func newSessions(c clock.PassiveClock, ttl time.Duration) *sessions {
	return &sessions{clock: c, ttl: ttl, expires: map[[sha256.Size]byte]time.Time{}}
}

// create starts a session and returns its ID.
func (s *sessions) create() string {
	id := make([]byte, 32)
	rand.Read(id) // never fails (crypto/rand panics rather)
	sid := base64.RawURLEncoding.EncodeToString(id)
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, exp := range s.expires {
		if !exp.After(now) {
			delete(s.expires, k)
		}
	}
	if len(s.expires) >= maxSessions {
		var oldest [sha256.Size]byte
		var first time.Time
		for k, exp := range s.expires {
			if first.IsZero() || exp.Before(first) {
				oldest, first = k, exp
			}
		}
		delete(s.expires, oldest)
	}
	s.expires[sha256.Sum256([]byte(sid))] = now.Add(s.ttl)
	return sid
}

// valid says whether sid is a session that has not expired.
func (s *sessions) valid(sid string) bool {
	if sid == "" {
		return false
	}
	k := sha256.Sum256([]byte(sid))
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.expires[k]
	if ok && !exp.After(s.clock.Now()) {
		delete(s.expires, k)
		return false
	}
	return ok
}

func (s *sessions) end(sid string) {
	s.mu.Lock()
	delete(s.expires, sha256.Sum256([]byte(sid)))
	s.mu.Unlock()
}

// loggedIn says whether r may see the console: it carries a live
// session's cookie, or the console has no login.
func (c *Console) loggedIn(r *http.Request) bool {
	if c.opts.Token == "" {
		return true
	}
	ck, err := r.Cookie(cookieName)
	return err == nil && c.sessions.valid(ck.Value)
}

// tokenMatches compares a token with the admin token in constant time,
// both hashed first so that not even the length leaks.
func (c *Console) tokenMatches(got string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(c.opts.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>wake console: log in</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/ui/assets/app.css"></head>
<body class="login"><main><h1>wake</h1>
<form method="post" action="/ui/login" id="login">
<label for="token">Admin API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<p class="hint">It is in <code>admin-token</code> in wake serve's state directory (or the file given to <code>--admin-token-file</code>).</p>
{{if .}}<p class="error" id="login-error" role="alert">{{.}}</p>{{end}}
<button type="submit" class="primary">Log in</button>
</form></main></body></html>
`))

// login shows the login page (GET) or checks a token (POST): a match
// starts a session and goes to the console; anything else shows the page
// again with why.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if c.opts.Token == "" {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet:
		c.renderLogin(w, http.StatusOK, "")
	case http.MethodPost:
		if !sameOrigin(r) {
			c.renderLogin(w, http.StatusForbidden, "this login came from another site's page")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if err := r.ParseForm(); err != nil {
			c.renderLogin(w, http.StatusBadRequest, "the login form could not be read: "+err.Error())
			return
		}
		token := strings.TrimSpace(r.PostForm.Get("token"))
		if token == "" {
			c.renderLogin(w, http.StatusBadRequest, "enter the admin API's token")
			return
		}
		if !c.tokenMatches(token) {
			c.log.Warn("console login refused: wrong token", zap.String("remote", r.RemoteAddr))
			c.renderLogin(w, http.StatusUnauthorized, "that is not this server's admin token")
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: cookieName, Value: c.sessions.create(), Path: Prefix,
			MaxAge: int(c.opts.SessionTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode,
			Secure: r.TLS != nil,
		})
		c.log.Info("console login", zap.String("remote", r.RemoteAddr))
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
	default:
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path, nil)
	}
}

func (c *Console) renderLogin(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = loginPage.Execute(w, msg)
}

// logout ends the session (POST only: a link or an image cannot log
// anyone out) and goes back to the login page.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !sameOrigin(r) {
		writeError(w, http.StatusMethodNotAllowed, "log out with a POST from the console's page", nil)
		return
	}
	if ck, err := r.Cookie(cookieName); err == nil {
		c.sessions.end(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Path: Prefix, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// sameOrigin is false for a request a browser sent from another site's
// page: its Origin (browsers send one with every POST and PUT) names
// another host than the one asked. SameSite=Strict already keeps the
// session cookie off such requests; this covers the login form and old
// browsers. Clients that send no Origin (curl) are not browsers' pages.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host && (u.Scheme == "http" || u.Scheme == "https")
}
