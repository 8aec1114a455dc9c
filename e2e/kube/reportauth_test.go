package kube_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// postWake sends a wake-up of ns/name to a controller's report port with
// the Authorization header auth ("" for none) and returns the status.
func postWake(t *testing.T, url, auth, ns, name string) int {
	t.Helper()
	body := fmt.Sprintf(`{"namespace":%q,"name":%q}`, ns, name)
	req, err := http.NewRequest(http.MethodPost, url+"/v1/wake", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s/v1/wake: %v", url, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// refused sums wake_demand_refused_total{reason} over the controllers'
// /metrics.
func (c *cluster) refused(t *testing.T, reason string) float64 {
	t.Helper()
	var sum float64
	want := `wake_demand_refused_total{reason="` + reason + `"} `
	for id, admin := range c.admins {
		res, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			t.Fatalf("%s /metrics: %v", id, err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(res.Body)
		res.Body.Close()
		found := false
		for sc := bufio.NewScanner(&buf); sc.Scan(); {
			if v, ok := strings.CutPrefix(sc.Text(), want); ok {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("%s /metrics: %q: %v", id, sc.Text(), err)
				}
				sum += n
				found = true
			}
		}
		if !found {
			t.Fatalf("%s /metrics has no %s", id, strings.TrimSpace(want))
		}
	}
	return sum
}

// checkReportAuth: the controllers' report port refuses wake-ups without
// the token, counts them and wakes nothing; a rotated Secret reaches the
// controllers within their 10s poll, the old token stays accepted for the
// grace, and the gateway picks the new one from its file with no restart.
// rev is a revision at zero, and replicas reads its Deployment's count.
func (c *cluster) checkReportAuth(t *testing.T, rev string, replicas func() int32) {
	old := c.reportToken(t)
	missing, invalid := c.refused(t, "missing"), c.refused(t, "invalid")
	wrong := old[:len(old)-1] + "x"
	if wrong == old {
		wrong = old[:len(old)-1] + "y"
	}
	for id, url := range c.reportURLs {
		if code := postWake(t, url, "", c.ns, rev); code != http.StatusUnauthorized {
			t.Errorf("%s: a wake-up without a token answered %d, want 401", id, code)
		}
		if code := postWake(t, url, "Bearer "+wrong, c.ns, rev); code != http.StatusForbidden {
			t.Errorf("%s: a wake-up with a wrong token answered %d, want 403", id, code)
		}
	}
	if got := c.refused(t, "missing") - missing; got != 2 {
		t.Errorf("wake_demand_refused_total{reason=missing} rose by %v over both controllers, want 2", got)
	}
	if got := c.refused(t, "invalid") - invalid; got != 2 {
		t.Errorf("wake_demand_refused_total{reason=invalid} rose by %v over both controllers, want 2", got)
	}
	// A wake-up scales within a second (the first request's cold start
	// above); three seconds of zero replicas say none got through.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if n := replicas(); n != 0 {
			t.Fatalf("%s scaled to %d after refused wake-ups", rev, n)
		}
	}

	// Rotation, as a user does it: a new token in the Secret.
	ctx := context.Background()
	secrets := c.env.Client.CoreV1().Secrets(c.ns)
	s, err := secrets.Get(ctx, reportSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rotated := "rotated-by-the-e2e-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	s.Data["token"] = []byte(rotated)
	if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	// A revision no autoscaler knows: accepted, and wakes nothing.
	const absent = "absent-00001"
	c.env.Eventually(t, 30*time.Second, "both controllers accept the rotated token", func() bool {
		for _, url := range c.reportURLs {
			if postWake(t, url, "Bearer "+rotated, c.ns, absent) != http.StatusAccepted {
				return false
			}
		}
		return true
	})
	t.Logf("the controllers accepted the rotated token %v after the Secret changed", time.Since(began).Round(time.Millisecond))
	for id, url := range c.reportURLs {
		if code := postWake(t, url, "Bearer "+old, c.ns, absent); code != http.StatusAccepted {
			t.Errorf("%s: the previous token answered %d within the grace, want 202", id, code)
		}
	}
	// The kubelet refreshes the mounted file some time later.
	c.writeToken(t, rotated)
	c.env.Eventually(t, 30*time.Second, "the gateway reads the rotated token", func() bool {
		return strings.Contains(c.gatewayProc.output(), "report token changed")
	})
}
