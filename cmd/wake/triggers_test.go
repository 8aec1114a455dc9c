package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	api "github.com/wakefn/wake/api/v1"
)

// Canned admin API answers, as wake serve writes them. Times are set
// relative to the test's start so that AGE columns are fixed.
var (
	created  = time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	lastFire = time.Now().Add(-20 * time.Hour).UTC().Format(time.RFC3339)
	nextFire = time.Now().Add(4*time.Hour + 30*time.Second).UTC().Format(time.RFC3339)

	ordersJSON = `{
  "apiVersion": "wake.dev/v1", "kind": "Trigger",
  "metadata": {"name": "orders", "namespace": "default", "creationTimestamp": "` + created + `"},
  "spec": {
    "kafka": {"bootstrapServers": ["kafka-1:9092", "kafka-2:9092"], "topics": ["orders", "refunds"],
              "consumerGroup": "wake.default.orders", "initialOffset": "earliest",
              "sasl": {"mechanism": "SCRAM-SHA-512", "user": "wake", "passwordFile": "/etc/wake/kafka-password"},
              "tls": {"enable": true}},
    "sink": {"function": "hello", "tag": "canary"},
    "delivery": {"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT0.5S", "timeout": "PT10S",
                 "deadLetterSink": {"kafkaTopic": "orders-dlq"}},
    "rateLimit": 50,
    "ordering": "key"
  },
  "status": {
    "observedGeneration": 1,
    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "` + created + `"}],
    "sinkUri": "http://canary-hello.default.localhost:8080",
    "delivered": 120, "deadLettered": 2, "failed": 3, "retried": 7, "throttled": 9,
    "rateLimit": 50,
    "pace": {"rateInForce": 34.6, "reason": "the sink answered 429 Too Many Requests", "since": "` + created + `"},
    "lag": [{"topic": "refunds", "partition": 0, "lag": 0},
            {"topic": "orders", "partition": 1, "lag": 7},
            {"topic": "orders", "partition": 0, "lag": 5}]
  }
}`
	nightlyJSON = `{
  "apiVersion": "wake.dev/v1", "kind": "Trigger",
  "metadata": {"name": "nightly", "namespace": "default", "creationTimestamp": "` + created + `"},
  "spec": {
    "cron": {"schedule": "0 3 * * *", "timezone": "Europe/Paris", "data": "{\"report\":\"daily\"}",
             "contentType": "application/json", "misfirePolicy": "fireOnce", "concurrencyPolicy": "forbid"},
    "sink": {"uri": "https://hooks.example.com/report"},
    "delivery": {"retry": 2, "backoffPolicy": "linear", "deadLetterSink": {"function": "dlq"}}
  },
  "status": {
    "conditions": [{"type": "Ready", "status": "False", "reason": "StartFailed",
                    "message": "unknown time zone Europe/Pariss", "lastTransitionTime": "` + created + `"}],
    "sinkUri": "https://hooks.example.com/report",
    "lastFireTime": "` + lastFire + `", "nextFireTime": "` + nextFire + `",
    "delivered": 4, "failed": 1, "retried": 2, "skipped": 1
  }
}`
	helloJSON = `{
  "apiVersion": "wake.dev/v1", "kind": "Function",
  "metadata": {"name": "hello", "namespace": "default"},
  "spec": {"template": {"spec": {"containers": [{"command": ["./hello"]}]}}},
  "status": {"url": "http://hello.default.localhost:8080", "latestCreatedRevisionName": "hello-00002"}
}`
)

// request is one request the fake admin API received.
type request struct {
	Method, Path, ContentType, Body string
}

// fakeAdmin serves canned answers by "METHOD PATH" and records what it
// was sent; a path it has no answer for is a 404 problem, as on wake serve.
type fakeAdmin struct {
	mu       sync.Mutex
	answers  map[string]string
	requests []request
}

func (f *fakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), string(b)})
	answer, ok := f.answers[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case !ok:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"code":404,"message":"%s: not found"}`, r.URL.Path)
	case answer == "":
		w.WriteHeader(http.StatusNoContent)
	default:
		io.WriteString(w, answer)
	}
}

func (f *fakeAdmin) sent() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

const v1 = "/apis/wake.dev/v1"

func newFakeAdmin(t *testing.T) (*fakeAdmin, string) {
	t.Helper()
	list := `{"apiVersion":"wake.dev/v1","kind":"TriggerList","items":[` + nightlyJSON + `,` + ordersJSON + `]}`
	f := &fakeAdmin{answers: map[string]string{
		"GET " + v1 + "/triggers":                                list,
		"GET " + v1 + "/namespaces/default/triggers":             list,
		"GET " + v1 + "/namespaces/default/triggers/orders":      ordersJSON,
		"GET " + v1 + "/namespaces/default/triggers/nightly":     nightlyJSON,
		"DELETE " + v1 + "/namespaces/default/triggers/orders":   "",
		"PUT " + v1 + "/namespaces/default/triggers/orders/rate": ordersJSON,
	}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// wake runs the CLI against server and returns its output.
func wake(t *testing.T, server string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetArgs(append([]string{"--server", server, "--token", "test-token-0123456789"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestGetTriggersTable(t *testing.T) {
	_, server := newFakeAdmin(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"table", []string{"get", "triggers"}, `
NAME      SOURCE                                                  SINK                               READY   RATE   DELIVERED   DEAD-LETTERED   FAILED   LAG   AGE
nightly   cron "0 3 * * *" Europe/Paris                           https://hooks.example.com/report   False   -      4           0               1        -     2h
orders    kafka topics=orders,refunds group=wake.default.orders   hello/canary                       True    50/s   120         2               3        12    2h
`},
		{"one by name, alias tr", []string{"get", "tr", "orders"}, `
NAME     SOURCE                                                  SINK           READY   RATE   DELIVERED   DEAD-LETTERED   FAILED   LAG   AGE
orders   kafka topics=orders,refunds group=wake.default.orders   hello/canary   True    50/s   120         2               3        12    2h
`},
		{"wide", []string{"get", "trigger", "nightly", "-o", "wide"}, `
NAME      SOURCE                          SINK                               READY   RATE   DELIVERED   DEAD-LETTERED   FAILED   LAG   AGE   ` +
			fmt.Sprintf("%-*s", len(localTime(nextFire)), "NEXT FIRE") + `   RETRIED
nightly   cron "0 3 * * *" Europe/Paris   https://hooks.example.com/report   False   -      4           0               1        -     2h    ` + localTime(nextFire) + `   2
`},
		{"every namespace, with their column", []string{"get", "triggers", "-A"}, `
NAMESPACE   NAME      SOURCE                                                  SINK                               READY   RATE   DELIVERED   DEAD-LETTERED   FAILED   LAG   AGE
default     nightly   cron "0 3 * * *" Europe/Paris                           https://hooks.example.com/report   False   -      4           0               1        -     2h
default     orders    kafka topics=orders,refunds group=wake.default.orders   hello/canary                       True    50/s   120         2               3        12    2h
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wake(t, server, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(strings.TrimPrefix(tc.want, "\n"), got); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

// localTime is how the CLI shows a time: in the local time zone, whose
// offset makes it longer than UTC's "Z".
func localTime(rfc3339 string) string {
	t, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		panic(err)
	}
	return t.Local().Format(time.RFC3339)
}

func TestGetTriggersJSONAndErrors(t *testing.T) {
	f, server := newFakeAdmin(t)
	out, err := wake(t, server, "get", "triggers", "-A", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list api.TriggerList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("-o json is not a TriggerList: %v\n%s", err, out)
	}
	if len(list.Items) != 2 || list.Kind != api.KindTriggerList || list.Items[1].Status.Delivered != 120 {
		t.Errorf("-o json: %+v", list)
	}
	if got := f.sent(); got[len(got)-1].Path != v1+"/triggers" {
		t.Errorf("-A asked for %s, want every namespace's", got[len(got)-1].Path)
	}

	// One named object is that object, as kubectl prints it.
	out, err = wake(t, server, "get", "triggers", "orders", "-o", "yaml")
	if err != nil || !strings.Contains(out, "kind: Trigger\n") || !strings.Contains(out, "consumerGroup: wake.default.orders") {
		t.Errorf("-o yaml: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "triggers", "missing"}, "no trigger named missing in namespace default"},
		{[]string{"get", "triggers", "missing", "-A"}, "no trigger named missing in any namespace"},
		{[]string{"get", "widgets"}, "use functions, revisions or triggers"},
	} {
		if _, err := wake(t, server, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("wake %s: error %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestDescribeTrigger(t *testing.T) {
	_, server := newFakeAdmin(t)
	tests := []struct{ name, want string }{
		{"orders", `
Name:              orders
Namespace:         default
Created:           ` + localTime(created) + ` (2h ago)
Ready:             True
Source:            kafka
  Brokers:         kafka-1:9092, kafka-2:9092
  Topics:          orders, refunds
  Consumer group:  wake.default.orders
  Initial offset:  earliest
  Ordering:        key (one event at a time per message key)
  SASL:            SCRAM-SHA-512, user wake, password from file /etc/wake/kafka-password
  TLS:             enabled
Sink:              function hello, revision tagged canary
Sink URI:          http://canary-hello.default.localhost:8080
Delivery:          retry 3 times, exponential backoff from PT0.5S
  Timeout:         PT10S per attempt
  Dead letters:    kafka topic orders-dlq
Rate limit:        50 events/s
Rate in force:     35 events/s, chosen by wake: the sink answered 429 Too Many Requests (since ` + localTime(created) + `)
Events:            (since this server started running the trigger)
  Delivered:       120
  Dead-lettered:   2
  Failed:          3
  Retried:         7 (retry attempts)
  Throttled:       9 (attempts the sink refused for load: sent again, paced, outside the retry policy)

Conditions:
  TYPE   STATUS  SINCE  REASON  MESSAGE
  Ready  True    2h     -       -

Lag (records behind each partition's high watermark):
  TOPIC    PARTITION  LAG
  orders   0          5
  orders   1          7
  refunds  0          0
  total               12
`},
		{"nightly", `
Name:             nightly
Namespace:        default
Created:          ` + localTime(created) + ` (2h ago)
Ready:            False  StartFailed: unknown time zone Europe/Pariss
Source:           cron
  Schedule:       "0 3 * * *" in Europe/Paris
  Data:           {"report":"daily"} (application/json, 18 bytes)
  Misfires:       fireOnce
  Concurrency:    forbid
  Last fire:      ` + localTime(lastFire) + ` (20h ago)
  Next fire:      ` + localTime(nextFire) + ` (in 4h)
Sink:             uri https://hooks.example.com/report
Sink URI:         https://hooks.example.com/report
Delivery:         retry 2 times, linear backoff from 200ms (default)
  Timeout:        none per attempt
  Dead letters:   function dlq
Rate limit:       none
Events:           (since this server started running the trigger)
  Delivered:      4
  Dead-lettered:  0
  Failed:         1
  Retried:        2 (retry attempts)
  Skipped:        1 (fires left out by the misfire or concurrency policy)

Conditions:
  TYPE   STATUS  SINCE  REASON       MESSAGE
  Ready  False   2h     StartFailed  unknown time zone Europe/Pariss
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wake(t, server, "describe", "trigger", tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(strings.TrimPrefix(tc.want, "\n"), got); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := wake(t, server, "describe", "widget", "x"); err == nil || !strings.Contains(err.Error(), "wake describe function|revision|trigger NAME") {
		t.Errorf("unknown resource: %v", err)
	}
}

func TestDeleteTrigger(t *testing.T) {
	f, server := newFakeAdmin(t)
	out, err := wake(t, server, "delete", "trigger", "orders")
	if err != nil {
		t.Fatal(err)
	}
	if out != `trigger.wake.dev "orders" deleted`+"\n" {
		t.Errorf("output %q", out)
	}
	if got := f.sent(); len(got) != 1 || got[0].Method != http.MethodDelete || got[0].Path != v1+"/namespaces/default/triggers/orders" {
		t.Errorf("requests %+v", got)
	}
}

func TestTriggerRate(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantBody string // "" means no request is sent
		wantErr  string
	}{
		{"a limit", []string{"orders", "50"}, `{"rateLimit":50}`, ""},
		{"a fraction", []string{"orders", "0.25"}, `{"rateLimit":0.25}`, ""},
		{"no limit", []string{"orders", "none"}, `{"rateLimit":null}`, ""},
		{"negative", []string{"orders", "-2"}, "", `RATE "-2": must be more than 0 events per second`},
		{"negative fraction", []string{"orders", "-0.5"}, "", `RATE "-0.5": must be more than 0 events per second`},
		{"zero", []string{"orders", "0"}, "", `RATE "0": must be more than 0 events per second`},
		{"not a number", []string{"orders", "fast"}, "", `RATE "fast" is not a number`},
		{"NaN", []string{"orders", "NaN"}, "", `RATE "NaN" is not a number`},
		{"infinite", []string{"orders", "1e999"}, "", `RATE "1e999": must be a finite number`},
		{"no rate", []string{"orders"}, "", "accepts 2 arg(s), received 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, server := newFakeAdmin(t)
			out, err := wake(t, server, append([]string{"trigger", "rate"}, tc.args...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want %q", err, tc.wantErr)
				}
				if got := f.sent(); len(got) != 0 {
					t.Errorf("bad input was sent: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := []request{{http.MethodPut, v1 + "/namespaces/default/triggers/orders/rate", "application/json", tc.wantBody}}
			if diff := cmp.Diff(want, f.sent()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			// The canned answer has a limit of 50 whatever was asked: the
			// command prints what the server says is in force.
			if out != "trigger default/orders: rate limit 50 events/s\n" {
				t.Errorf("output %q", out)
			}
		})
	}
}

func TestApplyFunctionsAndTriggers(t *testing.T) {
	manifest := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(manifest, []byte("# the rest is the server's business\nkind: Function\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		answer string
		want   string
		paths  []string // requests after the apply
	}{
		{"functions and triggers",
			`{"functions":[` + helloJSON + `],"triggers":[` + ordersJSON + `,` + nightlyJSON + `]}`,
			"function default/hello applied (revision hello-00002)\n" +
				"trigger default/orders applied (kafka → hello/canary)\n" +
				"trigger default/nightly applied (cron → https://hooks.example.com/report)\n" +
				"hello: revision hello-00002 is ready at http://hello.default.localhost:8080\n",
			[]string{v1 + "/namespaces/default/revisions/hello-00002", v1 + "/namespaces/default/functions/hello"}},
		{"triggers only: nothing to wait for",
			`{"functions":[],"triggers":[` + nightlyJSON + `]}`,
			"trigger default/nightly applied (cron → https://hooks.example.com/report)\n",
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, server := newFakeAdmin(t)
			f.answers["POST "+v1+"/apply"] = tc.answer
			f.answers["GET "+v1+"/namespaces/default/revisions/hello-00002"] = `{"metadata":{"name":"hello-00002","namespace":"default"},
				"status":{"conditions":[{"type":"Ready","status":"True"}]}}`
			f.answers["GET "+v1+"/namespaces/default/functions/hello"] = helloJSON
			out, err := wake(t, server, "apply", "-f", manifest, "--timeout", "10s")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if diff := cmp.Diff(tc.want, out); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			sent := f.sent()
			if sent[0].Method != http.MethodPost || sent[0].Path != v1+"/apply" || sent[0].ContentType != "application/yaml" {
				t.Errorf("apply sent %+v", sent[0])
			}
			var paths []string
			for _, r := range sent[1:] {
				paths = append(paths, r.Path)
			}
			if diff := cmp.Diff(tc.paths, paths); diff != "" {
				t.Errorf("requests after the apply (-want +got):\n%s", diff)
			}
		})
	}
}
