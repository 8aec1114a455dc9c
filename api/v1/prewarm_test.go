package v1

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTriggerPrewarm(t *testing.T) {
	trig := func(v string, sink Sink) *Trigger {
		tr := &Trigger{ObjectMeta: metav1.ObjectMeta{Name: "tick", Annotations: map[string]string{AnnotationPrewarm: v}},
			Spec: TriggerSpec{Cron: &CronTrigger{Schedule: "* * * * *"}, Sink: sink}}
		tr.SetDefaults()
		return tr
	}
	fn := Sink{Function: "hello"}
	tests := []struct {
		name, value string
		sink        Sink
		lead        time.Duration
		off         bool
		wantErr     string
	}{
		{name: "a lead", value: "45s", sink: fn, lead: 45 * time.Second},
		{name: "off", value: "off", sink: fn, off: true},
		{name: "not a duration", value: "soon", sink: fn, wantErr: `metadata.annotations[wake.dev/prewarm]: Invalid value: "soon": must be a duration such as 30s or 2m, or "off"`},
		{name: "too short", value: "100ms", sink: fn, wantErr: `must be in [1s; 24h0m0s] range`},
		{name: "a uri sink", value: "10s", sink: Sink{URI: "http://example.com"}, wantErr: `metadata.annotations[wake.dev/prewarm]: Forbidden: applies to cron triggers whose sink is a function only`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := trig(tt.value, tt.sink)
			errs := tr.Validate()
			if tt.wantErr != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.wantErr) {
					t.Fatalf("Validate: %v, want %q", errs, tt.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			lead, off, set := tr.Prewarm()
			if !set || lead != tt.lead || off != tt.off {
				t.Errorf("Prewarm() = %v, %v, %v; want %v, %v, true", lead, off, set, tt.lead, tt.off)
			}
		})
	}
	if _, _, set := (&Trigger{}).Prewarm(); set {
		t.Error("no annotation reads as set")
	}
}
