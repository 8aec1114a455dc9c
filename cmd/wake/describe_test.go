package main

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
)

func TestDescribeColdStarts(t *testing.T) {
	ms := func(f float64) metav1.Duration {
		return metav1.Duration{Duration: time.Duration(f * float64(time.Millisecond))}
	}
	r := &api.Revision{}
	r.Name, r.Namespace = "hello-00001", "default"
	r.Status.ColdStarts = []api.ColdStart{{
		Time: metav1.NewMicroTime(time.Now()), Instance: "hello-00001-abcde",
		Queue: ms(4.25), Start: ms(301), Ready: ms(200.04), Warmup: ms(0), Total: ms(505.29),
	}}
	var out strings.Builder
	if err := describeRevision(&out, r, nil); err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(out.String(), "Cold starts")
	if !ok {
		t.Fatalf("no Cold starts section:\n%s", out.String())
	}
	rows := strings.Split(strings.TrimSpace(section), "\n")
	if len(rows) != 3 {
		t.Fatalf("want a title, a header and one row:\n%s", section)
	}
	if got, want := strings.Fields(rows[1]), []string{"TIME", "INSTANCE", "QUEUE", "START", "READY", "WARMUP", "TOTAL"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("header %q, want %q", got, want)
	}
	if got, want := strings.Join(strings.Fields(rows[2])[1:], " "), "hello-00001-abcde 4.2ms 301.0ms 200.0ms 0.0ms 505.3ms"; got != want {
		t.Errorf("row %q, want %q", got, want)
	}

	r.Status.ColdStarts = nil
	out.Reset()
	describeRevision(&out, r, nil)
	if !strings.Contains(out.String(), "No cold start recorded") {
		t.Errorf("without cold starts:\n%s", out.String())
	}
}
