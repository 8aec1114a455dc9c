package e2e

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The store cannot vanish silently: wake serve refuses a damaged wake.db
// (cut to nothing, cut in half, random bytes over its pages) at once, with
// one message that names the file and the way back, never a stack trace
// and never an empty start over it; started with --restore-from the
// latest snapshot, it has the function back, answering.
func TestStoreDamagedIsRefusedAndRestored(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	w := startWake(t, state)
	w.apply(fn{name: "keep", marker: marker(t)}.yaml())
	if r := w.mustGet("keep.default.localhost", "/"); r.code != 200 || !strings.HasPrefix(r.body, "keep-00001") {
		t.Fatalf("before: %d %q", r.code, r.body)
	}
	if err := w.stop(); err != nil {
		t.Fatalf("wake serve did not stop cleanly: %v", err)
	}
	db := filepath.Join(state, "wake.db")
	good, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	snaps, _ := filepath.Glob(filepath.Join(state, "snapshots", "wake-*.db"))
	if len(snaps) == 0 {
		t.Fatal("no snapshot after a deploy and a clean stop")
	}
	sort.Strings(snaps) // their names sort as their times
	latest := snaps[len(snaps)-1]

	for _, d := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"truncated to 0 bytes", func(b []byte) []byte { return nil }},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"random bytes over every page's header", scrambleHeaders},
	} {
		t.Run(d.name, func(t *testing.T) {
			damaged := d.damage(bytes.Clone(good))
			if err := os.WriteFile(db, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			out, took, err := serveOnce(state)
			if err == nil {
				t.Fatalf("wake serve started over a damaged store:\n%s", out)
			}
			if took > 20*time.Second {
				t.Errorf("wake serve took %v to refuse the store", took)
			}
			for _, want := range []string{"wake: " + db + " is damaged (", "wake serve will not start over it",
				"--restore-from " + latest + "`", "move the file away to start empty"} {
				if !strings.Contains(out, want) {
					t.Errorf("wake serve said:\n%s\nwant it to say %q", out, want)
				}
			}
			if n := strings.Count(out, "is damaged"); n != 1 {
				t.Errorf("wake serve said:\n%s\nwant one message, not %d", out, n)
			}
			for _, bad := range []string{"goroutine ", "panic:", "fatal error"} {
				if strings.Contains(out, bad) {
					t.Errorf("wake serve's output has %q:\n%s", bad, out)
				}
			}
			if after, _ := os.ReadFile(db); !bytes.Equal(after, damaged) {
				t.Error("wake serve changed the damaged file")
			}
			t.Logf("refused in %v: %s", took.Round(time.Millisecond), strings.TrimSpace(out))
		})
	}

	w = startWake(t, state, "--restore-from", latest)
	if r := w.mustGet("keep.default.localhost", "/"); r.code != 200 || !strings.HasPrefix(r.body, "keep-00001") {
		t.Errorf("after --restore-from: %d %q, want the function answering", r.code, r.body)
	}
	if !strings.Contains(w.output.String(), "wake: restored "+db+" from "+latest) {
		t.Errorf("wake serve did not say it restored the store:\n%s", w.output)
	}
	aside, _ := filepath.Glob(db + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("files kept aside: %v, want the damaged one", aside)
	}
	if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, scrambleHeaders(bytes.Clone(good))) {
		t.Error("the file kept aside is not the damaged store")
	}
}

// scrambleHeaders writes the same random bytes over the header of every
// page of the bbolt file b (4 KiB pages) but its two meta pages.
func scrambleHeaders(b []byte) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	for p := 2 * 4096; p < len(b); p += 4096 {
		for i := range 16 {
			b[p+i] = byte(r.Uint32())
		}
	}
	return b
}

// serveOnce runs wake serve on state until it exits (within a minute),
// and returns what it printed and how long it ran.
func serveOnce(state string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, wakeBin, "serve", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--state-dir", state)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	return out.String(), time.Since(start), err
}
