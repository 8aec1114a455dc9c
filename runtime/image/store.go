// Package image owns the images that embedded mode runs as containers: it
// resolves a revision's image reference to a digest once, when the
// revision is deployed, and pins the revision to that digest (a revision's
// image never changes under it, as in Knative); it pulls with
// go-containerregistry, honouring imagePullPolicy and the Docker keychain
// (~/.docker/config.json and credential helpers); it unpacks each image
// once into a content-addressed directory that every revision running the
// same digest shares; and it deletes the images no revision pins.
//
// Layout under Options.Dir:
//
//	sha256/HEX/rootfs      the image's filesystem, flattened, read-only to instances
//	sha256/HEX/image.json  its config and size; written last, so its presence says complete
//	refs/ENCODED-REF       the digest a tag last resolved to (for IfNotPresent and Never)
//	pins/NAMESPACE/REVISION the digest a revision runs
//	tmp/                   unpacks in progress
package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"go.uber.org/zap"
)

// Pull policies, as Kubernetes names them.
const (
	PullAlways       = "Always"
	PullIfNotPresent = "IfNotPresent"
	PullNever        = "Never"
)

// Options configure a Store.
type Options struct {
	// Dir holds the images, refs and pins. Required.
	Dir string
	// Keychain finds registry credentials; nil means authn.DefaultKeychain
	// (~/.docker/config.json, $DOCKER_CONFIG, credential helpers).
	Keychain authn.Keychain
	// Transport carries registry requests; nil means remote's default.
	Transport http.RoundTripper
	// Platform chosen from a multi-platform image; zero means this
	// machine's (linux/GOARCH).
	Platform v1.Platform
	// Logger gets one line per pull. nil means none.
	Logger *zap.Logger
}

// Image is an unpacked image, ready to run.
type Image struct {
	// Ref is the reference as the manifest wrote it; Digest the manifest
	// digest it resolved to ("sha256:…").
	Ref    string
	Digest string
	// Size is the sum of the compressed layers, in bytes.
	Size int64
	// Rootfs is the unpacked filesystem. Instances must not write to it.
	Rootfs string
	// Config is the image's runtime config: entrypoint, cmd, env, user,
	// working directory, exposed ports.
	Config v1.Config
	// Pulled says this call downloaded it; Took is how long that took.
	Pulled bool
	Took   time.Duration
}

// record is image.json.
type record struct {
	Ref    string    `json:"ref"`
	Digest string    `json:"digest"`
	Size   int64     `json:"size"`
	Config v1.Config `json:"config"`
}

// Store is the image store. Its methods are safe for concurrent use; pulls
// of one digest are done once, whoever asks.
type Store struct {
	opts Options
	log  *zap.Logger

	mu     sync.Mutex
	pulls  map[string]*pull // by digest
	pinsMu sync.Mutex       // pins and gc
}

type pull struct {
	done chan struct{}
	img  *Image
	err  error
}

// Open returns the store in opts.Dir, creating it, and removes unpacks a
// previous process left half done.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("image store: Options.Dir is required")
	}
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	if opts.Platform.OS == "" {
		opts.Platform = v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	_ = os.RemoveAll(filepath.Join(opts.Dir, "tmp"))
	for _, d := range []string{"sha256", "refs", "pins", "tmp"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	return &Store{opts: opts, log: log, pulls: map[string]*pull{}}, nil
}

// DefaultPolicy is Kubernetes' default imagePullPolicy for ref: Always for
// :latest or no tag, IfNotPresent otherwise (a digest never changes).
func DefaultPolicy(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return PullIfNotPresent
	}
	if t, ok := r.(name.Tag); ok && (t.TagStr() == "latest" || !strings.Contains(strings.TrimPrefix(ref, t.RegistryStr()), ":")) {
		return PullAlways
	}
	return PullIfNotPresent
}

// Resolve returns the digest the revision rev (NAMESPACE/NAME) runs: the
// one pinned to it if any, else ref's, found by policy (Always asks the
// registry, IfNotPresent uses the digest the tag last resolved to here if
// that image is present, Never only that), and pins it. It does not
// download layers; Get does.
func (s *Store) Resolve(ctx context.Context, rev, ref, policy string) (string, error) {
	if d := s.pinned(rev); d != "" {
		return d, nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", &Error{Reason: ReasonInvalidImage, Ref: ref, Err: err}
	}
	if policy == "" {
		policy = DefaultPolicy(ref)
	}
	var digest string
	switch d, isDigest := r.(name.Digest); {
	case isDigest:
		digest = d.DigestStr()
	case policy != PullAlways && s.present(s.refDigest(ref)):
		digest = s.refDigest(ref)
	case policy == PullNever:
		return "", &Error{Reason: ReasonNotPresent, Ref: ref, Err: errors.New("imagePullPolicy is Never and the image is not in the local store")}
	default:
		desc, err := remote.Head(r, s.remoteOptions(ctx)...)
		if err != nil {
			// Some registries answer HEAD poorly; GET is authoritative.
			d2, err2 := remote.Get(r, s.remoteOptions(ctx)...)
			if err2 != nil {
				return "", classify(ref, err2)
			}
			desc = &d2.Descriptor
		}
		digest = desc.Digest.String()
		s.writeRef(ref, digest)
	}
	if err := s.pin(rev, digest); err != nil {
		return "", err
	}
	return digest, nil
}

// Get returns the image ref@digest unpacked, pulling it when it is not in
// the store (unless policy is Never).
func (s *Store) Get(ctx context.Context, ref, digest, policy string) (*Image, error) {
	if img, err := s.load(digest); err == nil {
		img.Ref = ref
		return img, nil
	}
	if policy == PullNever {
		return nil, &Error{Reason: ReasonNotPresent, Ref: ref, Err: fmt.Errorf("imagePullPolicy is Never and %s is not in the local store", digest)}
	}
	s.mu.Lock()
	p, busy := s.pulls[digest]
	if !busy {
		p = &pull{done: make(chan struct{})}
		s.pulls[digest] = p
		go func() {
			// Not bound to ctx: a pull another caller waits on goes on.
			p.img, p.err = s.download(ref, digest)
			s.mu.Lock()
			delete(s.pulls, digest)
			s.mu.Unlock()
			close(p.done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-p.done:
		if p.err != nil {
			return nil, p.err
		}
		img := *p.img
		img.Ref = ref
		return &img, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pullTimeout bounds one download, so that a stalled registry fails the
// pull (which is then retried with backoff) rather than hanging it.
const pullTimeout = 10 * time.Minute

func (s *Store) download(ref, digest string) (*Image, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
	defer cancel()
	start := time.Now()
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, &Error{Reason: ReasonInvalidImage, Ref: ref, Err: err}
	}
	dr := r.Context().Digest(digest)
	img, err := remote.Image(dr, s.remoteOptions(ctx)...)
	if err != nil {
		return nil, classify(ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, classify(ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, classify(ref, err)
	}
	var size int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return nil, classify(ref, err)
		}
		size += n
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.opts.Dir, "tmp"), "unpack-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	rc := mutate.Extract(img)
	err = extract(rc, filepath.Join(tmp, "rootfs"))
	rc.Close()
	if err != nil {
		return nil, classify(ref, fmt.Errorf("unpacking: %w", err))
	}
	rec := record{Ref: ref, Digest: digest, Size: size, Config: cf.Config}
	b, _ := json.Marshal(rec)
	if err := os.WriteFile(filepath.Join(tmp, "image.json"), b, 0o644); err != nil {
		return nil, err
	}
	final := s.dir(digest)
	if err := os.Rename(tmp, final); err != nil && !s.present(digest) {
		return nil, fmt.Errorf("storing %s: %w", digest, err)
	}
	took := time.Since(start)
	s.log.Info("image pulled", zap.String("image", ref), zap.String("digest", digest),
		zap.Int64("bytes", size), zap.Duration("took", took))
	out, err := s.load(digest)
	if err != nil {
		return nil, err
	}
	out.Pulled, out.Took = true, took
	return out, nil
}

func (s *Store) remoteOptions(ctx context.Context) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(s.opts.Keychain),
		remote.WithPlatform(s.opts.Platform), remote.WithUserAgent("wake")}
	if s.opts.Transport != nil {
		opts = append(opts, remote.WithTransport(s.opts.Transport))
	}
	return opts
}

func (s *Store) dir(digest string) string {
	return filepath.Join(s.opts.Dir, "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func (s *Store) present(digest string) bool {
	if !strings.HasPrefix(digest, "sha256:") {
		return false
	}
	_, err := os.Stat(filepath.Join(s.dir(digest), "image.json"))
	return err == nil
}

func (s *Store) load(digest string) (*Image, error) {
	if !strings.HasPrefix(digest, "sha256:") || strings.ContainsAny(digest, "/.") {
		return nil, fmt.Errorf("not a sha256 digest: %q", digest)
	}
	b, err := os.ReadFile(filepath.Join(s.dir(digest), "image.json"))
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(s.dir(digest), "image.json"), err)
	}
	return &Image{Ref: rec.Ref, Digest: rec.Digest, Size: rec.Size, Rootfs: filepath.Join(s.dir(digest), "rootfs"), Config: rec.Config}, nil
}

func (s *Store) refPath(ref string) string {
	return filepath.Join(s.opts.Dir, "refs", url.PathEscape(ref))
}

func (s *Store) refDigest(ref string) string {
	b, _ := os.ReadFile(s.refPath(ref))
	return strings.TrimSpace(string(b))
}

func (s *Store) writeRef(ref, digest string) {
	_ = writeAtomic(s.refPath(ref), digest)
}

func (s *Store) pinPath(rev string) string {
	return filepath.Join(s.opts.Dir, "pins", filepath.FromSlash(rev))
}

func (s *Store) pinned(rev string) string {
	b, _ := os.ReadFile(s.pinPath(rev))
	return strings.TrimSpace(string(b))
}

func (s *Store) pin(rev, digest string) error {
	s.pinsMu.Lock()
	defer s.pinsMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(s.pinPath(rev)), 0o755); err != nil {
		return err
	}
	return writeAtomic(s.pinPath(rev), digest)
}

// Unpin forgets the digest of a removed revision; GC then deletes its
// image if no other revision runs it.
func (s *Store) Unpin(rev string) {
	s.pinsMu.Lock()
	defer s.pinsMu.Unlock()
	_ = os.Remove(s.pinPath(rev))
}

// GC deletes the images no revision pins and returns their digests.
// Revisions deployed before their pin is written are safe: Get keeps the
// image it returns until the next GC only if pinned, so call GC after a
// revision's removal, not during a deploy.
func (s *Store) GC() ([]string, error) {
	s.pinsMu.Lock()
	defer s.pinsMu.Unlock()
	used := map[string]bool{}
	root := filepath.Join(s.opts.Dir, "pins")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			used[strings.TrimPrefix(strings.TrimSpace(string(b)), "sha256:")] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for d := range s.pulls {
		used[strings.TrimPrefix(d, "sha256:")] = true
	}
	s.mu.Unlock()
	entries, err := os.ReadDir(filepath.Join(s.opts.Dir, "sha256"))
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if used[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.opts.Dir, "sha256", e.Name())); err != nil {
			return removed, err
		}
		removed = append(removed, "sha256:"+e.Name())
	}
	if len(removed) > 0 {
		s.log.Info("images collected", zap.Strings("digests", removed))
	}
	return removed, nil
}

func writeAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Reasons an image cannot be had, for the revision's ImagePulled
// condition.
const (
	ReasonInvalidImage = "InvalidImageName"
	ReasonNotFound     = "ImageNotFound"
	ReasonUnauthorized = "ImagePullUnauthorized"
	ReasonUnreachable  = "RegistryUnavailable"
	ReasonNotPresent   = "ErrImageNeverPull"
	ReasonPullFailed   = "ErrImagePull"
)

// Error is a failed resolve or pull: Reason says which kind, for people
// and for conditions.
type Error struct {
	Reason string
	Ref    string
	Err    error
}

func (e *Error) Error() string {
	switch e.Reason {
	case ReasonNotFound:
		return fmt.Sprintf("image %s: not found in its registry: %v", e.Ref, e.Err)
	case ReasonUnauthorized:
		return fmt.Sprintf("image %s: the registry refused the credentials (check ~/.docker/config.json): %v", e.Ref, e.Err)
	case ReasonUnreachable:
		return fmt.Sprintf("image %s: registry unreachable: %v", e.Ref, e.Err)
	}
	return fmt.Sprintf("image %s: %v", e.Ref, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// classify turns a registry error into an Error with the reason a user
// can act on.
func classify(ref string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusNotFound:
			return &Error{Reason: ReasonNotFound, Ref: ref, Err: err}
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return &Error{Reason: ReasonUnauthorized, Ref: ref, Err: err}
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
				return &Error{Reason: ReasonNotFound, Ref: ref, Err: err}
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return &Error{Reason: ReasonUnauthorized, Ref: ref, Err: err}
			}
		}
		return &Error{Reason: ReasonPullFailed, Ref: ref, Err: err}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &Error{Reason: ReasonUnreachable, Ref: ref, Err: err}
	}
	return &Error{Reason: ReasonPullFailed, Ref: ref, Err: err}
}
