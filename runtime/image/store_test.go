package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wakefn/wake/internal/imagebuild"
	"github.com/wakefn/wake/internal/testimage"
)

// push builds an image holding /hello with content and pushes it as ref.
func push(t *testing.T, ref, content string) string {
	t.Helper()
	return testimage.PushFiles(t, ref, []imagebuild.File{
		{Path: "/hello", Data: []byte(content), Mode: 0o755},
		{Path: "/lib64", Link: "usr/lib64"},
	}, v1.Config{Entrypoint: []string{"/hello"}, Env: []string{"A=1"}})
}

func TestResolvePinsAndGetUnpacks(t *testing.T) {
	host := testimage.Registry(t)
	ref := host + "/fn/hello:1.0"
	d1 := push(t, ref, "one")
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := s.Resolve(ctx, "default/hello-00001", ref, "")
	if err != nil || got != d1 {
		t.Fatalf("Resolve = %q, %v; want %q", got, err, d1)
	}
	img, err := s.Get(ctx, ref, got, "")
	if err != nil {
		t.Fatal(err)
	}
	if !img.Pulled || img.Size == 0 || img.Config.Entrypoint[0] != "/hello" {
		t.Fatalf("image %+v", img)
	}
	if b, err := os.ReadFile(filepath.Join(img.Rootfs, "hello")); err != nil || string(b) != "one" {
		t.Fatalf("rootfs /hello = %q, %v", b, err)
	}
	// The tag moves: the pinned revision keeps its digest, a new one
	// resolving with Always gets the new one.
	d2 := push(t, ref, "two")
	if got, _ := s.Resolve(ctx, "default/hello-00001", ref, PullAlways); got != d1 {
		t.Fatalf("pinned revision resolved to %q, want its pin %q", got, d1)
	}
	if got, _ := s.Resolve(ctx, "default/hello-00002", ref, PullAlways); got != d2 {
		t.Fatalf("new revision resolved to %q, want %q", got, d2)
	}
	// IfNotPresent uses what the tag last resolved to here.
	if got, _ := s.Resolve(ctx, "default/hello-00003", ref, PullIfNotPresent); got != d2 {
		t.Fatalf("IfNotPresent resolved to %q, want %q (last resolved)", got, d2)
	}
	if img2, err := s.Get(ctx, ref, d1, PullNever); err != nil || img2.Pulled {
		t.Fatalf("a present image was not served from the store: %+v, %v", img2, err)
	}
	// Collection keeps pinned images only.
	if _, err := s.Get(ctx, ref, d2, ""); err != nil {
		t.Fatal(err)
	}
	s.Unpin("default/hello-00001")
	removed, err := s.GC()
	if err != nil || len(removed) != 1 || removed[0] != d1 {
		t.Fatalf("GC removed %v, %v; want [%s]", removed, err, d1)
	}
	if _, err := s.Get(ctx, ref, d1, PullNever); err == nil {
		t.Fatal("a collected image is still served")
	}
}

func TestPullErrorsSayWhy(t *testing.T) {
	host := testimage.Registry(t)
	push(t, host+"/fn/hello:1.0", "one")
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ln := httptest.NewServer(nil)
	dead := strings.TrimPrefix(ln.URL, "http://")
	ln.Close()
	for _, c := range []struct{ ref, policy, reason string }{
		{host + "/fn/hello:9.9", "", ReasonNotFound},
		{host + "/fn/nope:1.0", "", ReasonNotFound},
		{dead + "/fn/hello:1.0", "", ReasonUnreachable},
		{host + "/fn/hello:1.0", PullNever, ReasonNotPresent},
		{"UPPER/Case::x", "", ReasonInvalidImage},
	} {
		_, err := s.Resolve(context.Background(), "default/x-00001", c.ref, c.policy)
		var ie *Error
		if !errors.As(err, &ie) || ie.Reason != c.reason {
			t.Errorf("Resolve(%s, %q) = %v; want reason %s", c.ref, c.policy, err, c.reason)
		}
	}
}

func TestExtractStaysInsideRoot(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	outside := t.TempDir()
	for _, h := range []*tar.Header{
		{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: outside},
		{Name: "etc/passwd", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644},
		{Name: "../../escape", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("x"))
		}
	}
	tw.Close()
	root := filepath.Join(t.TempDir(), "rootfs")
	if err := extract(&buf, root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(outside, "passwd")); err == nil {
		t.Fatal("an entry was written through a symlink to outside the root")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(root), "escape")); err == nil {
		t.Fatal("a ../ entry was written outside the root")
	}
	if b, err := os.ReadFile(filepath.Join(root, outside, "passwd")); err != nil || string(b) != "x" {
		t.Fatalf("the entry should land inside the root, under the symlink's target: %q, %v", b, err)
	}
}
