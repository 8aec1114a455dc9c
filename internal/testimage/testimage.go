// Package testimage gives tests the images they run: an in-process
// registry on loopback (go-containerregistry's pkg/registry) and images of
// internal/testfn, built statically from the tree and pushed to it, so a
// test runs a real image through a real pull with nothing downloaded.
package testimage

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wakefn/wake/internal/imagebuild"
)

// Registry starts an in-process registry on 127.0.0.1 for the test and
// returns its host:port.
func Registry(t testing.TB) string {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Testfn returns a static build of internal/testfn (no libc, so it runs in
// an image with nothing else), built once per test binary.
func Testfn(t testing.TB) string {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "wake-testimage-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "testfn"), "github.com/wakefn/wake/internal/testfn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building testfn: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "testfn")
}

// Push builds an image of testfn, at /testfn, with env added to the
// image's config (listening on 0.0.0.0, as a server in a container must),
// pushes it as ref and returns its digest.
func Push(t testing.TB, ref string, env ...string) string {
	bin := Testfn(t)
	cfg := v1.Config{
		Entrypoint: []string{"/testfn"},
		Env:        append([]string{"PATH=/", "TESTFN_HOST=0.0.0.0"}, env...),
		WorkingDir: "/",
	}
	files := []imagebuild.File{
		{Path: "/testfn", Source: bin, Mode: 0o755},
		{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/:/testfn\nnonroot:x:65532:65532:nonroot:/:/testfn\n")},
		{Path: "/etc/group", Data: []byte("root:x:0:\nnonroot:x:65532:\n")},
	}
	return PushFiles(t, ref, files, cfg)
}

// PushFiles builds an image of files with cfg, pushes it as ref and
// returns its digest.
func PushFiles(t testing.TB, ref string, files []imagebuild.File, cfg v1.Config) string {
	t.Helper()
	img, err := imagebuild.Image(files, cfg, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}
