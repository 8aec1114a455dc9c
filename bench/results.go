package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// report is bench/results/latest.json: every scenario's result, and where
// and when they were measured. A scenario not run is absent.
type report struct {
	Date      time.Time        `json:"date"`
	Machine   machine          `json:"machine"`
	Commit    string           `json:"commit,omitempty"`
	Quick     bool             `json:"quick"`
	Scale     float64          `json:"duration_scale"`
	Seconds   float64          `json:"seconds"`
	Errors    []string         `json:"errors,omitempty"`
	Warm      *warmResult      `json:"warm,omitempty"`
	Cold      *coldResult      `json:"cold,omitempty"`
	ColdImage *coldImageResult `json:"cold_image,omitempty"`
	Burst     *burstResult     `json:"burst,omitempty"`
	Parallel  *parallelResult  `json:"parallel,omitempty"`
	Ramp      *rampResult      `json:"ramp,omitempty"`
	Density   *densityResult   `json:"density,omitempty"`
	Events    *eventsResult    `json:"events,omitempty"`
}

// machine says what the numbers were measured on.
type machine struct {
	CPUs      int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	MemTotal  string `json:"mem_total,omitempty"`
}

func newReport(ctx context.Context, c config) *report {
	r := &report{Date: time.Now().UTC().Truncate(time.Second), Machine: machineInfo(), Quick: c.quick, Scale: c.scale}
	if out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output(); err == nil {
		r.Commit = strings.TrimSpace(string(out))
	}
	return r
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	m.MemTotal = procField("/proc/meminfo", "MemTotal")
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.GoVersion = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// write saves latest.json and the plots into dir.
func (r *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := r.plot(dir); err != nil {
		return fmt.Errorf("plotting: %w", err)
	}
	return nil
}

// replotDir redraws the plots from dir/latest.json, after a change to how
// they are drawn.
func replotDir(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		return err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s/latest.json: %w", dir, err)
	}
	return r.plot(dir)
}
