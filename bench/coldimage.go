package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wakefn/wake/internal/imagebuild"
)

// coldImageResult compares, in one run of wake, a wake-up from zero of
// the same static Go function as a local process and as an image (a
// container under runc, in its own network namespace, the image already
// pulled): time to first byte, and the create and start phases wake
// reports in Server-Timing.
type coldImageResult struct {
	Skipped string          `json:"skipped,omitempty"`
	Cases   []coldImageCase `json:"cases,omitempty"`
}

type coldImageCase struct {
	Name      string  `json:"name"`
	Samples   int     `json:"samples"`
	TTFBP50ms float64 `json:"ttfb_p50_ms"`
	TTFBP95ms float64 `json:"ttfb_p95_ms"`
	// The phases wake timed (Server-Timing), p50: a container's create
	// (namespace, CNI, overlay, bundle) and start (runc run until the
	// function answers).
	CreateP50ms float64 `json:"create_p50_ms"`
	StartP50ms  float64 `json:"start_p50_ms"`
	Errors      int     `json:"errors"`
}

func runColdImage(ctx context.Context, c *config, bins binaries) (*coldImageResult, error) {
	if why := containersMissing(); why != "" {
		fmt.Println("skipped:", why)
		return &coldImageResult{Skipped: why}, nil
	}
	n := 30
	if c.quick {
		n = 10
	}
	static := filepath.Join(c.workDir, "testfn-static")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", static, "./internal/testfn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building a static testfn: %v: %s", err, out)
	}
	reg, stop, err := startRegistry()
	if err != nil {
		return nil, err
	}
	defer stop()
	ref := reg + "/bench/testfn:1"
	if err := pushTestfn(static, ref); err != nil {
		return nil, err
	}
	w, err := startWake(ctx, c, bins, "coldimage")
	if err != nil {
		return nil, err
	}
	defer w.close()
	var docs []string
	for i := range n {
		docs = append(docs, coldFunction(fmt.Sprintf("proc-%d", i), "command: ["+strconv.Quote(static)+"]"),
			coldFunction(fmt.Sprintf("img-%d", i), "image: "+ref))
	}
	docs = append(docs, coldFunction("img-pull", "image: "+ref))
	if err := w.apply(ctx, strings.Join(docs, "---\n")); err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: time.Minute}
	// The first wake-up of an image waits for its pull; later ones find
	// it local, which is what this scenario measures.
	if _, _, err := timedGet(ctx, client, w.http, host("img-pull")); err != nil {
		return nil, fmt.Errorf("the image's first wake-up: %w", err)
	}
	res := &coldImageResult{}
	for _, kind := range []struct{ name, prefix string }{{"process (static testfn)", "proc"}, {"image (same binary, runc)", "img"}} {
		cc := coldImageCase{Name: kind.name, Samples: n}
		var ttfb, create, start []time.Duration
		for i := range n {
			d, timing, err := timedGet(ctx, client, w.http, host(fmt.Sprintf("%s-%d", kind.prefix, i)))
			if err != nil {
				cc.Errors++
				fmt.Fprintf(os.Stderr, "  %s %d: %v\n", kind.prefix, i, err)
				continue
			}
			ttfb = append(ttfb, d)
			create = append(create, serverTiming(timing, "wake-create"))
			start = append(start, serverTiming(timing, "wake-start"))
		}
		ttfb, create, start = sortedCopy(ttfb), sortedCopy(create), sortedCopy(start)
		cc.TTFBP50ms, cc.TTFBP95ms = ms(percentile(ttfb, 0.5)), ms(percentile(ttfb, 0.95))
		cc.CreateP50ms, cc.StartP50ms = ms(percentile(create, 0.5)), ms(percentile(start, 0.5))
		res.Cases = append(res.Cases, cc)
	}
	fmt.Println()
	fmt.Println(res.table())
	return res, nil
}

// containersMissing says why this machine cannot run image revisions, or
// "" when it can.
func containersMissing() string {
	if os.Geteuid() != 0 {
		return "image revisions need root"
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return "no runc (hack/install-containers.sh)"
	}
	return ""
}

func coldFunction(name, run string) string {
	return fmt.Sprintf("apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n  name: %s\nspec:\n  template:\n"+
		"    metadata:\n      annotations:\n        autoscaling.knative.dev/initial-scale: \"0\"\n"+
		"    spec:\n      containers:\n        - %s\n          env:\n            - name: TESTFN_HOST\n              value: 0.0.0.0\n", name, run)
}

// startRegistry serves go-containerregistry's registry on loopback.
func startRegistry() (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

func pushTestfn(bin, ref string) error {
	img, err := imagebuild.Image([]imagebuild.File{{Path: "/testfn", Source: bin, Mode: 0o755}},
		v1.Config{Entrypoint: []string{"/testfn"}, Env: []string{"PATH=/"}}, runtime.GOARCH)
	if err != nil {
		return err
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	return remote.Write(r, img)
}

// timedGet is firstByte that also returns the Server-Timing header.
func timedGet(ctx context.Context, client *http.Client, addr, hostName string) (time.Duration, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = hostName
	t0 := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	d := time.Since(t0)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, "", fmt.Errorf("%s: %s", hostName, res.Status)
	}
	return d, res.Header.Get("Server-Timing"), nil
}

// serverTiming returns the duration of entry name in a Server-Timing
// value ("wake-create;dur=12.3, ..."), 0 when absent.
func serverTiming(v, name string) time.Duration {
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		n, rest, ok := strings.Cut(e, ";dur=")
		if ok && n == name {
			f, _ := strconv.ParseFloat(rest, 64)
			return time.Duration(f * float64(time.Millisecond))
		}
	}
	return 0
}

func (r *coldImageResult) table() string {
	t := newTable("function", "cold starts", "TTFB p50 ms", "p95 ms", "create p50 ms", "start p50 ms", "errors")
	for _, c := range r.Cases {
		t.add(c.Name, fmt.Sprint(c.Samples), f1(c.TTFBP50ms), f1(c.TTFBP95ms), f1(c.CreateP50ms), f1(c.StartP50ms), fmt.Sprint(c.Errors))
	}
	return t.String()
}
