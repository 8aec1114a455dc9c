package controlplane

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// openPaths answer without a token. /healthz tells a supervisor or load
// balancer that wake serve is up and says nothing else, and such checkers
// rarely carry credentials. /metrics is not here: it names every function
// and revision and shows their traffic, and Prometheus sends a bearer token
// with one line of scrape config (authorization: credentials_file).
var openPaths = map[string]bool{"/healthz": true}

// tokenHelp tells a client how to send the admin token; the CLI's flags and
// files are named because the CLI is how people reach the admin API.
const tokenHelp = "pass --token, set WAKE_TOKEN, or run the CLI on the machine of wake serve so it reads STATE_DIR/admin-token"

// requireToken lets a request through to next only if it carries
// "Authorization: Bearer TOKEN" with the admin token (openPaths excepted).
// An empty token lets every request through: the caller decided the admin
// API needs none (wake serve allows that only on a loopback address).
//
// Both tokens are hashed with SHA-256 before a constant-time compare, so
// the time a wrong guess takes tells nothing about the token, not even its
// length (subtle.ConstantTimeCompare returns at once on unequal lengths).
// The cost is one SHA-256 of a few dozen bytes per admin request.
//
// A refusal is logged with the method, path and client address, never
// with the header, the token sent or the body.
func requireToken(token string, log *zap.Logger, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			log.Info("admin request refused: no bearer token",
				zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
			unauthorized(w, "", "this admin API needs a token: "+tokenHelp)
			return
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			log.Warn("admin request refused: wrong token",
				zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
			unauthorized(w, `, error="invalid_token"`, "this admin API's token is not the one sent: "+tokenHelp)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme (RFC 6750; the scheme's name is case-insensitive), and false for
// no header, another scheme or an empty token.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// unauthorized answers 401 with the challenge RFC 6750 asks for; errParam
// adds its error attribute when a token was sent but is wrong.
func unauthorized(w http.ResponseWriter, errParam, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="wake admin API"`+errParam)
	writeProblem(w, http.StatusUnauthorized, msg, nil)
}
