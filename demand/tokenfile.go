package demand

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"
)

// DefaultTokenRecheck is how often a TokenFile reads its file again: a
// rotated token is in use at most this long after the file changed, for
// one read of a small file per gateway every 10s.
const DefaultTokenRecheck = 10 * time.Second

// TokenSource gives the token a Reporter sends.
type TokenSource interface {
	// Token is the token to send now. It is called for every report and
	// wake-up, so it must be cheap.
	Token() string
}

// Interface guard: a gateway reads its token from a file.
var _ TokenSource = (*TokenFile)(nil)

// TokenFileOptions configure a TokenFile.
type TokenFileOptions struct {
	// Recheck is how often the file is read again. 0 means
	// DefaultTokenRecheck.
	Recheck time.Duration
	// Clock times the rereads. nil means the real clock.
	Clock clock.PassiveClock
	// Logger: nil means no logs.
	Logger *zap.Logger
}

// TokenFile is a token kept in a file, a Secret mounted in the gateway's
// pod: it is read again every Recheck, so a rotated Secret is picked up
// without a restart (the kubelet swaps a mounted Secret's files
// atomically). A reread that fails or finds a bad token keeps the last
// good one, and says so in the log once per failure spell.
type TokenFile struct {
	path    string
	recheck time.Duration
	clock   clock.PassiveClock
	log     *zap.Logger

	mu      sync.Mutex
	token   string
	read    time.Time // when the file was last read
	failing bool      // the last reread failed
}

// NewTokenFile reads the token in path and returns a TokenFile, or an
// error that names the file and what is wrong with it.
func NewTokenFile(path string, opts TokenFileOptions) (*TokenFile, error) {
	f := &TokenFile{path: path, recheck: opts.Recheck, clock: opts.Clock, log: opts.Logger}
	if f.recheck <= 0 {
		f.recheck = DefaultTokenRecheck
	}
	if f.clock == nil {
		f.clock = clock.RealClock{}
	}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	t, err := readToken(path)
	if err != nil {
		return nil, err
	}
	f.token, f.read = t, f.clock.Now()
	return f, nil
}

// Token returns the token, reading the file again when Recheck has
// passed since it was last read.
func (f *TokenFile) Token() string {
	now := f.clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.read) < f.recheck {
		return f.token
	}
	f.read = now
	t, err := readToken(f.path)
	switch {
	case err != nil:
		if !f.failing {
			f.log.Error("cannot reread the report token; sending the last good one", zap.Error(err))
		}
		f.failing = true
	case t != f.token:
		f.log.Info("report token changed; sending the new one", zap.String("file", f.path))
		f.token, f.failing = t, false
	default:
		if f.failing {
			f.log.Info("report token readable again", zap.String("file", f.path))
		}
		f.failing = false
	}
	return f.token
}

// readToken reads a token from a file, surrounding white space removed.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the report token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if err := CheckToken(t); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
