package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wakefn/wake/internal/testengine"
	"github.com/wakefn/wake/internal/testimage"
	"github.com/wakefn/wake/runtime/container"
	"github.com/wakefn/wake/runtime/image"
)

// TestWakeImageRunsAsNonRoot builds wake's image from the tree, pushes it
// to a registry, pulls it as a revision would, and runs `wake serve` from
// it in a container as the image's own non-root user: the data plane
// answers.
func TestWakeImageRunsAsNonRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wake from scratch (minutes)")
	}
	dir := t.TempDir()
	engine := testengine.New(t, filepath.Join(dir, "containers"))
	ref := testimage.Registry(t) + "/wake:test"
	wd, _ := os.Getwd()
	if err := os.Chdir(filepath.Join(wd, "..", "..")); err != nil { // the module root, for ./cmd/wake
		t.Fatal(err)
	}
	err := build(filepath.Join(dir, "wake.tar"), ref, "test", runtime.GOARCH)
	os.Chdir(wd)
	if err != nil {
		t.Fatal(err)
	}
	store, err := image.Open(image.Options{Dir: filepath.Join(dir, "images")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := store.Resolve(ctx, "wake-system/wake", ref, "")
	if err != nil {
		t.Fatal(err)
	}
	img, err := store.Get(ctx, ref, d, "")
	if err != nil {
		t.Fatal(err)
	}
	if img.Config.User != "65532:65532" {
		t.Fatalf("the image runs as %q, want the non-root 65532:65532", img.Config.User)
	}
	uid, gid, err := container.User(img.Rootfs, img.Config.User)
	if err != nil || uid != 65532 || gid != 65532 {
		t.Fatalf("user %d:%d, %v", uid, gid, err)
	}
	in, err := engine.Prepare(ctx, container.Spec{
		ID: "wake-image", Rootfs: img.Rootfs, UID: uid, GID: gid, Cwd: img.Config.WorkingDir, Hostname: "wake",
		Env:  img.Config.Env,
		Args: append(img.Config.Entrypoint, "serve", "--http", "0.0.0.0:8080", "--admin", "127.0.0.1:8081", "--state-dir", "/tmp/wake"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Cleanup()
	out, _ := os.Create(filepath.Join(dir, "out"))
	in.Cmd.Stdout, in.Cmd.Stderr = out, out
	if err := in.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { in.Cmd.Wait(); close(done) }()
	defer func() { in.Kill(); <-done }()
	c := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get("http://" + in.IP.String() + ":8080/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "no function") {
				t.Fatalf("wake from its image answered %d %q, want its 404 for a host with no function", resp.StatusCode, b)
			}
			break
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "out"))
			t.Fatalf("wake exited in its container:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "out"))
			t.Fatalf("wake in its container did not answer: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
