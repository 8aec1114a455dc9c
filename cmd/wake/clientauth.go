package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/cobra"
)

// clientAuth finds the admin token the CLI sends, once, on first use.
type clientAuth struct {
	flag     string // --token
	stateDir string // --state-dir

	once   sync.Once
	token  string
	source string // where token came from, for messages; never the token
	err    error
}

// addFlags adds the CLI's flags about the admin token to root, for every
// command. The token's flag has no default shown in help: WAKE_TOKEN is
// read when the command runs, so its value is never printed.
func (a *clientAuth) addFlags(root *cobra.Command) {
	fs := root.PersistentFlags()
	fs.StringVar(&a.flag, "token", "",
		"admin API token (env WAKE_TOKEN, which other users cannot see in ps, unlike this flag); "+
			"default: STATE_DIR/admin-token when --server is on this machine")
	fs.StringVar(&a.stateDir, "state-dir", envOr("WAKE_STATE_DIR", defaultStateDir()),
		"state directory of the wake serve on this machine, whose admin-token the CLI reads (env WAKE_STATE_DIR)")
}

// tokenSources are the places a token can come from, in order.
type tokenSources struct {
	flag     string // --token
	env      string // WAKE_TOKEN
	server   string // --server: the state directory's file is read only if it is on this machine
	stateDir string
}

// resolveToken returns the token to send and where it came from: --token,
// else WAKE_TOKEN, else STATE_DIR/admin-token when the server is on this
// machine. It returns "" when there is none (a server run with
// --no-admin-token needs none); the server says if it wanted one. The file
// is never read for a remote server: that server's token is not in it.
func resolveToken(s tokenSources) (token, source string, err error) {
	switch {
	case s.flag != "":
		return s.flag, "--token", nil
	case s.env != "":
		return s.env, "WAKE_TOKEN", nil
	case !localServer(s.server):
		return "", "", nil
	}
	path := filepath.Join(s.stateDir, adminTokenName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("reading the admin token: %w (pass --token or set WAKE_TOKEN instead)", err)
	}
	return strings.TrimSpace(string(b)), path, nil
}

// localServer says whether the admin API at server is on this machine:
// its host is localhost or a loopback address.
func localServer(server string) bool {
	if !strings.Contains(server, "://") {
		server = "http://" + server // 127.0.0.1:8081 means what it says
	}
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// get returns the token for a call to server.
func (a *clientAuth) get(server string) (token, source string, err error) {
	a.once.Do(func() {
		a.token, a.source, a.err = resolveToken(tokenSources{
			flag: a.flag, env: os.Getenv("WAKE_TOKEN"), server: server, stateDir: a.stateDir,
		})
	})
	return a.token, a.source, a.err
}

// unauthorizedError explains a 401 of the admin API in the CLI's terms.
func unauthorizedError(server, source string) error {
	if source == "" {
		return fmt.Errorf("wake serve at %s needs its admin token: set WAKE_TOKEN (or pass --token); "+
			"on the machine of wake serve, the CLI reads STATE_DIR/admin-token itself: "+
			"point --state-dir or WAKE_STATE_DIR at its state directory", server)
	}
	return fmt.Errorf("wake serve at %s refused the admin token from %s: it is not that server's "+
		"(its token is in its STATE_DIR/admin-token, or the file of its --admin-token-file)", server, source)
}
