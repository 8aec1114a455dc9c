package container

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wakefn/wake/internal/testimage"
	"github.com/wakefn/wake/runtime/cgroup"
	"github.com/wakefn/wake/runtime/image"
)

// newEngine returns an engine on a fresh state directory, or skips the
// test with the reason this machine cannot run containers.
func newEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := New(Options{StateDir: t.TempDir()})
	if err != nil {
		if os.Getenv("WAKE_CONTAINERS_REQUIRED") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func pulled(t *testing.T, env ...string) *image.Image {
	t.Helper()
	ref := testimage.Registry(t) + "/fn/testfn:1.0"
	testimage.Push(t, ref, env...)
	s, err := image.Open(image.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Resolve(context.Background(), "default/t-00001", ref, "")
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Get(context.Background(), ref, d, "")
	if err != nil {
		t.Fatal(err)
	}
	return img
}

type running struct {
	in   *Instance
	out  string
	done chan struct{} // closed when runc returned, with err set
	err  error
}

func run(t *testing.T, e *Engine, s Spec) *running {
	t.Helper()
	in, err := e.Prepare(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	in.Cmd.Stdout, in.Cmd.Stderr = f, f
	if err := in.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := &running{in: in, out: out, done: make(chan struct{})}
	go func() { r.err = in.Cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		in.Kill()
		<-r.done
		in.Cleanup()
	})
	return r
}

// get asks the instance for path until it answers (it is starting) or 10s
// pass.
func (r *running) get(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := http.Client{Timeout: time.Second}
		resp, err := c.Get("http://" + net.JoinHostPort(r.in.IP.String(), "8080") + path)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		select {
		case <-r.done:
			out, _ := os.ReadFile(r.out)
			t.Fatalf("the container exited (%v) before answering %s; output:\n%s", r.err, path, out)
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(r.out)
			t.Fatalf("GET %s: %v; output:\n%s", path, err, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func baseSpec(img *image.Image, id string) Spec {
	return Spec{ID: id, Rootfs: img.Rootfs, Args: img.Config.Entrypoint, Env: append(img.Config.Env, "PORT=8080", "K_REVISION=t-00001"), Cwd: "/", Hostname: id}
}

func TestContainerRunsIsolatedAndLeavesNothing(t *testing.T) {
	e := newEngine(t)
	img := pulled(t, "TESTFN_SPAWN_CHILD=setsid")
	a := run(t, e, baseSpec(img, "t-1"))
	b := run(t, e, baseSpec(img, "t-2"))
	// Both listen on 8080, each in its own namespace.
	if got := a.get(t, "/env?k=K_REVISION"); strings.TrimSpace(got) != "t-00001" {
		t.Fatalf("K_REVISION = %q", got)
	}
	b.get(t, "/")
	if a.in.IP.Equal(b.in.IP) {
		t.Fatalf("two instances share the address %s", a.in.IP)
	}
	if len(e.Containers()) != 2 {
		t.Fatalf("runc knows %v, want 2 containers", e.Containers())
	}
	// Its pid namespace holds its init and the setsid child.
	g := cgroup.Open(e.cgroups, "t-1")
	if n := len(g.Procs()); n < 2 {
		t.Fatalf("the group of t-1 holds %d processes, want the server and its setsid child", n)
	}
	a.in.Kill()
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("runc did not return after its container was killed")
	}
	if err := a.in.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if n := len(g.Procs()); n != 0 {
		t.Fatalf("%d processes of t-1 left", n)
	}
	if _, err := os.Stat(g.Path("pids")); !os.IsNotExist(err) {
		t.Fatalf("the group of t-1 is still there: %v", err)
	}
	if _, err := os.Stat(e.net.nsPath("t-1")); !os.IsNotExist(err) {
		t.Fatalf("the namespace of t-1 is still there: %v", err)
	}
	if ids := e.Containers(); len(ids) != 1 || ids[0] != "t-2" {
		t.Fatalf("runc knows %v, want [t-2]", ids)
	}
}

func TestMemoryLimitKillsAndSaysSo(t *testing.T) {
	e := newEngine(t)
	img := pulled(t)
	s := baseSpec(img, "hog")
	s.Limits = cgroup.Limits{MemoryBytes: 64 << 20, Pids: 64}
	r := run(t, e, s)
	r.get(t, "/")
	_, _ = http.Get(fmt.Sprintf("http://%s:8080/hog?mb=200", r.in.IP))
	select {
	case <-r.done:
		t.Logf("runc ended with %v", r.err)
	case <-time.After(20 * time.Second):
		t.Fatal("a container over its memory limit was not killed")
	}
	if !r.in.OOMKilled() {
		t.Fatal("OOMKilled is false for a container killed at its memory limit")
	}
}

func TestNewRemovesLeftovers(t *testing.T) {
	e := newEngine(t)
	img := pulled(t)
	r := run(t, e, baseSpec(img, "left"))
	r.get(t, "/")
	// A wake that died: its runc gone, the container alive.
	r.in.Cmd.Process.Kill()
	<-r.done
	if len(e.Containers()) != 1 {
		t.Fatalf("runc knows %v", e.Containers())
	}
	e.Close()
	e2, err := New(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if ids := e2.Containers(); len(ids) != 0 {
		t.Fatalf("after New, runc still knows %v", ids)
	}
	if n := len(cgroup.Open(e.cgroups, "left").Procs()); n != 0 {
		t.Fatalf("%d processes of the left container still run", n)
	}
}
