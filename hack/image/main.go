// Command image builds wake's own OCI image, with no Docker daemon: a
// static build of ./cmd/wake on an empty, distroless-style base (the
// binary, CA certificates, and a passwd naming the non-root user 65532
// it runs as), written as a tarball and, with -push, pushed to a
// registry. `make image` runs it; manifests/install names the image it
// pushes as ghcr.io/wakefn/wake (override with -push REGISTRY/wake:TAG).
//
//	go run ./hack/image -o bin/wake-image.tar [-push 127.0.0.1:5000/wake:dev]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/wakefn/wake/internal/imagebuild"
)

// Name is the image's name in the tarball and in manifests/install.
const Name = "ghcr.io/wakefn/wake"

func main() {
	out := flag.String("o", "bin/wake-image.tar", "the tarball to write (docker load / ctr import read it)")
	push := flag.String("push", "", "also push the image to this reference (REGISTRY/REPO:TAG)")
	version := flag.String("version", "dev", "the version built into wake and the image's tag")
	arch := flag.String("arch", runtime.GOARCH, "the architecture to build for")
	flag.Parse()
	if err := build(*out, *push, *version, *arch); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func build(out, push, version, arch string) error {
	dir, err := os.MkdirTemp("", "wake-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "wake")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "./cmd/wake")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building wake: %w", err)
	}
	files := []imagebuild.File{
		{Path: "/usr/local/bin/wake", Source: bin, Mode: 0o755},
		{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{Path: "/etc/group", Data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{Path: "/home/nonroot", Dir: true, Mode: 0o700, UID: 65532, GID: 65532},
		// runc keeps a mount point's mode on the tmpfs it mounts there.
		{Path: "/tmp", Dir: true, Mode: 0o1777},
	}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		files = append(files, imagebuild.File{Path: "/etc/ssl/certs/ca-certificates.crt", Source: "/etc/ssl/certs/ca-certificates.crt"})
	}
	img, err := imagebuild.Image(files, v1.Config{
		Entrypoint: []string{"/usr/local/bin/wake"},
		User:       "65532:65532",
		WorkingDir: "/home/nonroot",
		Env:        []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "WAKE_STATE_DIR=/tmp/wake"},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "wake",
			"org.opencontainers.image.version": version,
			"org.opencontainers.image.source":  "https://github.com/wakefn/wake",
		},
	}, arch)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(Name + ":" + version)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := tarball.WriteToFile(out, tag, img); err != nil {
		return err
	}
	d, _ := img.Digest()
	fmt.Printf("image %s (%s) written to %s\n", tag, d, out)
	if push != "" {
		ref, err := name.ParseReference(push)
		if err != nil {
			return fmt.Errorf("-push %q: %w", push, err)
		}
		if err := remote.Write(ref, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("pushing to %s: %w", ref, err)
		}
		fmt.Printf("pushed %s@%s\n", ref, d)
	}
	return nil
}
