package delivery

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCompile(t *testing.T) {
	got, err := Spec{
		Retry:          3,
		BackoffPolicy:  BackoffLinear,
		BackoffDelay:   "PT0.5S",
		Timeout:        "PT10S",
		DeadLetterSink: "http://dls.default.svc/",
		RetryAfterMax:  "PT30S",
	}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{
		Retry:          3,
		BackoffPolicy:  BackoffLinear,
		BackoffDelay:   500 * time.Millisecond,
		Timeout:        10 * time.Second,
		DeadLetterSink: "http://dls.default.svc/",
		RetryAfterMax:  30 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Compile() (-want +got):\n%s", diff)
	}
}

func TestCompileDefaults(t *testing.T) {
	got, err := Spec{}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{BackoffPolicy: BackoffExponential, BackoffDelay: DefaultBackoffDelay, RetryAfterMax: -1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Spec{}.Compile() (-want +got):\n%s", diff)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string // substrings, each must appear
	}{
		{"negative retry", Spec{Retry: -1}, []string{"delivery.retry = -1, must be >= 0"}},
		{"unknown policy", Spec{BackoffPolicy: "random"}, []string{`delivery.backoffPolicy = "random", must be "exponential" or "linear"`}},
		{"bad delay", Spec{BackoffDelay: "2s"}, []string{"delivery.backoffDelay", `"2s"`}},
		{"bad timeout", Spec{Timeout: "P1M"}, []string{"delivery.timeout", "no fixed length"}},
		{"zero timeout", Spec{Timeout: "PT0S"}, []string{`delivery.timeout = "PT0S", must be more than zero`}},
		{"bad retryAfterMax", Spec{RetryAfterMax: "x"}, []string{"delivery.retryAfterMax"}},
		{"relative dls", Spec{DeadLetterSink: "/dls"}, []string{"delivery.deadLetterSink", "http or https"}},
		{"dls without host", Spec{DeadLetterSink: "http://"}, []string{"delivery.deadLetterSink", "no host"}},
		{"all at once", Spec{Retry: -2, BackoffPolicy: "x", BackoffDelay: "y"},
			[]string{"delivery.retry", "delivery.backoffPolicy", "delivery.backoffDelay"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.spec.Compile()
			if err == nil {
				t.Fatal("Compile() succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name   string
		policy BackoffPolicy
		delay  time.Duration
		want   []time.Duration // for retries 1, 2, 3, …
	}{
		{"exponential", BackoffExponential, 100 * time.Millisecond,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}},
		{"linear", BackoffLinear, 100 * time.Millisecond,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}},
		{"zero delay", BackoffExponential, 0, []time.Duration{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{BackoffPolicy: tt.policy, BackoffDelay: tt.delay}
			var got []time.Duration
			for n := 1; n <= len(tt.want); n++ {
				got = append(got, p.Backoff(n))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Backoff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackoffSaturates(t *testing.T) {
	p := Policy{BackoffPolicy: BackoffExponential, BackoffDelay: time.Second}
	if got := p.Backoff(200); got != maxBackoff {
		t.Errorf("Backoff(200) = %v, want %v", got, maxBackoff)
	}
}
