package manifests

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

var (
	// wakeMetric finds wake's metric names in a PromQL expression.
	wakeMetric = regexp.MustCompile(`\bwake_[a-z_]+`)
	// registered finds the names wake gives its collectors in Go source.
	registered = regexp.MustCompile(`Name:\s*"(wake_[a-z_]+)"`)
	// runtimeMetric finds the Go runtime and process metrics, which come
	// from client_golang's collectors rather than from a Name in wake.
	runtimeMetric = regexp.MustCompile(`\b(go|process)_[a-z_]+`)
	// collectorOf is what wake's serve.go registers for each prefix.
	collectorOf = map[string]string{"go": "collectors.NewGoCollector", "process": "collectors.NewProcessCollector"}
)

// TestDashboardQueriesOnlyWakeMetrics fails when a dashboard asks for a
// metric wake does not export: a renamed metric, or one never written.
func TestDashboardQueriesOnlyWakeMetrics(t *testing.T) {
	exported, sources := exportedMetrics(t)
	runtimeNames := runtimeMetrics(t)
	paths, err := filepath.Glob(filepath.Join("dashboards", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards found (%v)", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			exprs := dashboardQueries(t, path)
			if len(exprs) == 0 {
				t.Fatal("no PromQL queries found")
			}
			used := map[string]bool{}
			var missing []string
			for _, e := range exprs {
				for _, name := range wakeMetric.FindAllString(e, -1) {
					base := seriesOf(name, exported)
					used[base] = true
					if !exported[base] {
						missing = append(missing, name)
					}
				}
				for _, m := range runtimeMetric.FindAllStringSubmatch(e, -1) {
					name, collector := m[0], collectorOf[m[1]]
					switch {
					case !strings.Contains(sources, collector):
						missing = append(missing, name+" (wake registers no "+collector+")")
					case m[1] == "process" && goruntime.GOOS != "linux":
						// The process collector's set differs by OS; wake's is Linux's.
					case !runtimeNames[seriesOf(name, runtimeNames)]:
						missing = append(missing, name+" (not from "+collector+")")
					}
				}
			}
			if len(missing) > 0 {
				sort.Strings(missing)
				t.Errorf("dashboard queries metrics wake does not export: %s", strings.Join(dedup(missing), ", "))
			}
			if len(used) == 0 {
				t.Error("dashboard queries no wake_ metric")
			}
		})
	}
}

// runtimeMetrics returns the names the Go and process collectors export,
// gathered from a registry with the collectors wake serve registers.
func runtimeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

// seriesOf maps a series name to the metric that exports it: a
// histogram's _bucket, _count and _sum belong to the histogram.
func seriesOf(name string, exported map[string]bool) string {
	if exported[name] {
		return name
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}

// exportedMetrics reads the repository's non-test Go sources outside
// manifests/ and returns every wake_ metric name given to a collector,
// and the sources themselves.
func exportedMetrics(t *testing.T) (map[string]bool, string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found above manifests/: %v", err)
	}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	var all strings.Builder
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == here || (path != root && strings.HasPrefix(d.Name(), ".")) || d.Name() == "testdata" || d.Name() == "vendor" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		all.Write(src)
		for _, m := range registered.FindAllSubmatch(src, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("found no wake_ metric registered in the Go sources under %s", root)
	}
	return names, all.String()
}

// dashboardQueries returns every PromQL expression in a Grafana
// dashboard: the panels' targets (nested rows included) and the template
// variables' queries.
func dashboardQueries(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Type       string `json:"type"`
				Definition string `json:"definition"`
				Query      any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("not valid dashboard JSON: %v", err)
	}
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					t.Errorf("panel %q: target %s has no expr", p.Title, tg.RefID)
				}
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		exprs = append(exprs, v.Definition)
		switch q := v.Query.(type) {
		case string:
			exprs = append(exprs, q)
		case map[string]any:
			if s, ok := q["query"].(string); ok {
				exprs = append(exprs, s)
			}
		}
	}
	return exprs
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
