package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	api "github.com/wakefn/wake/api/v1"
)

func TestGCFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    api.RevisionGC
		wantErr string
	}{
		{"Knative's defaults", nil, api.DefaultRevisionGC, ""},
		{"disabled", []string{"--revision-gc-retain-since-create-time=disabled", "--revision-gc-max-non-active-revisions=disabled"},
			api.RevisionGC{RetainSinceCreateTime: api.Disabled, RetainSinceLastActiveTime: 15 * time.Hour, MinNonActiveRevisions: 20, MaxNonActiveRevisions: api.Disabled}, ""},
		{"max below min", []string{"--revision-gc-max-non-active-revisions=5"}, api.RevisionGC{},
			"--revision-gc-max-non-active-revisions = 5, must be >= min-non-active-revisions (20) or disabled"},
		{"no unit", []string{"--revision-gc-retain-since-last-active-time=15"}, api.RevisionGC{},
			`--revision-gc-retain-since-last-active-time "15": must be a duration with a unit`},
		{"negative min", []string{"--revision-gc-min-non-active-revisions=-1"}, api.RevisionGC{},
			"--revision-gc-min-non-active-revisions = -1, must be >= 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g gcFlags
			f := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			g.addFlags(f)
			if err := f.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := g.config()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}
