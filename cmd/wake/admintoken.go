package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// adminTokenName is the admin token's file in the state directory: wake
// serve creates it, and the CLI on the same machine reads it.
const adminTokenName = "admin-token"

// minTokenLen is the shortest token wake serve takes from a file. Its own
// are 43 characters (32 random bytes); 16 keeps a hand-made one from
// being guessable.
const minTokenLen = 16

// adminTokenOptions are serve's flags about the admin token.
type adminTokenOptions struct {
	file    string // --admin-token-file; "" means STATE_DIR/admin-token
	fileSet bool   // --admin-token-file was given: the file must exist
	none    bool   // --no-admin-token
}

// adminToken is the token the admin API asks for, and where it came from.
type adminToken struct {
	token   string // "" means the admin API takes requests without one
	path    string
	created bool
}

// resolve returns the admin token as the flags ask, creating the default
// file on first start. stateDir must exist.
func (o adminTokenOptions) resolve(stateDir string) (adminToken, error) {
	switch {
	case o.none && o.fileSet:
		return adminToken{}, errors.New("--no-admin-token and --admin-token-file contradict each other: give one")
	case o.none:
		return adminToken{}, nil
	case o.fileSet && o.file == "":
		return adminToken{}, errors.New("--admin-token-file is empty: name a file, or leave the flag out " +
			"for STATE_DIR/admin-token (--no-admin-token runs without a token, on a loopback address only)")
	case o.fileSet:
		t, err := readTokenFile(o.file)
		if errors.Is(err, fs.ErrNotExist) {
			return adminToken{}, fmt.Errorf("--admin-token-file: %w (write a token of %d characters or more to it, "+
				"mode 0600, or leave the flag out for STATE_DIR/admin-token, created on first start)", err, minTokenLen)
		}
		if err != nil {
			return adminToken{}, fmt.Errorf("--admin-token-file: %w", err)
		}
		return adminToken{token: t, path: o.file}, nil
	}
	path := filepath.Join(stateDir, adminTokenName)
	t, err := readTokenFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t, err = createTokenFile(path)
		if err != nil {
			return adminToken{}, err
		}
		return adminToken{token: t, path: path, created: true}, nil
	}
	if err != nil {
		return adminToken{}, err
	}
	return adminToken{token: t, path: path}, nil
}

// readTokenFile returns the token in path (surrounding white space
// removed). It refuses a file other users could read: the token lets its
// holder run commands as wake.
func readTokenFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file, so it cannot hold the admin token", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s: mode %#o lets other users read the admin token: run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if err := checkToken(t); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// checkToken says what is wrong with a token, if anything: it must be long
// enough not to be guessed, and fit an HTTP header as it is.
func checkToken(t string) error {
	if len(t) < minTokenLen {
		return fmt.Errorf("the admin token has %d characters, fewer than %d: a short token can be guessed", len(t), minTokenLen)
	}
	for _, c := range []byte(t) {
		if c <= ' ' || c > '~' {
			return errors.New("the admin token may hold only visible ASCII characters, no spaces, to fit an Authorization header")
		}
	}
	return nil
}

// createTokenFile writes a new random token to path, readable by its
// owner only. It writes a temporary file, then links it to path: the token
// appears whole or not at all, and an existing file is never replaced, so
// of two wake serves starting at once, the second takes the first's token.
func createTokenFile(path string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating the admin token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+adminTokenName+"-*") // 0600, O_EXCL
	if err != nil {
		return "", fmt.Errorf("creating the admin token: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(token + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("writing the admin token to %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return readTokenFile(path)
	} else if err != nil {
		return "", fmt.Errorf("creating the admin token: %w", err)
	}
	return token, nil
}

// isLoopback says whether a listener's address is reachable only from
// this machine. An unspecified address (0.0.0.0, ::) is every interface.
func isLoopback(addr net.Addr) bool {
	a, ok := addr.(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// notice is what wake serve prints at start about the token: where it is
// and how the CLI on this machine finds it, never the token itself.
// cliStateDir is where the CLI looks when told nothing.
func (t adminToken) notice(stateDir, cliStateDir string) string {
	if t.token == "" {
		return "admin API takes requests without a token (--no-admin-token): every user and process of this machine can deploy functions"
	}
	where := "admin API token in " + t.path
	if t.created {
		where = "new admin API token in " + t.path
	}
	if t.path != filepath.Join(stateDir, adminTokenName) {
		return fmt.Sprintf(`%s: export WAKE_TOKEN="$(cat %s)" for the CLI to send it`, where, t.path)
	}
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	if cli, err := filepath.Abs(cliStateDir); err == nil && cli == abs {
		return where + ", where the CLI on this machine reads it"
	}
	return fmt.Sprintf("%s: export WAKE_STATE_DIR=%s for the CLI on this machine to read it", where, abs)
}
