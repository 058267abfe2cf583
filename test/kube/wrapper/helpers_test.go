package wrapper

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// The timings of every kubelect in this package: short, so that a round
// takes seconds, yet with a RenewDeadline four RetryPeriods long, so that
// a leader on a loaded machine does not lose its lease unprovoked.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 2 * time.Second
	retryPeriod   = 500 * time.Millisecond
	// jitterFactor is election.JitterFactor: a follower that polls waits
	// between RetryPeriod and (1+jitterFactor)·RetryPeriod.
	jitterFactor = 1.2
)

func timingArgs() []string {
	return []string{"--lease-duration", leaseDuration.String(), "--renew-deadline", renewDeadline.String(),
		"--retry-period", retryPeriod.String()}
}

// waitFor polls cond every 10ms until it holds, and fails the test when it
// does not within timeout. Every wait of the package is one of these: no
// assertion depends on a sleep having been long enough.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// poll is waitFor that reports instead of failing.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeKubeconfig writes a kubeconfig for server with token in dir and
// returns its path. caFile is empty for a plain http:// server (the fault
// proxy on loopback).
func writeKubeconfig(t *testing.T, dir, name, server, caFile, token, namespace string) string {
	t.Helper()
	cl := map[string]any{"server": server}
	if caFile != "" {
		cl["certificate-authority"] = caFile
	}
	cfg := map[string]any{
		"apiVersion": "v1", "kind": "Config", "current-context": "test",
		"clusters": []any{map[string]any{"name": "test", "cluster": cl}},
		"users":    []any{map[string]any{"name": "test", "user": map[string]any{"token": token}}},
		"contexts": []any{map[string]any{"name": "test", "context": map[string]any{
			"cluster": "test", "user": "test", "namespace": namespace}}},
	}
	b, err := json.Marshal(cfg) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".kubeconfig")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lease is what the tests read of a Lease, as the API server stores it.
type lease struct {
	ResourceVersion      string
	Holder               string
	Transitions          int
	LeaseDurationSeconds int
	AcquireTime          time.Time
	RenewTime            time.Time
}

// getLease reads the Lease name as the cluster admin.
func getLease(ctx context.Context, c *harness.Cluster, name string) (lease, error) {
	path := "/apis/coordination.k8s.io/v1/namespaces/" + c.Namespace + "/leases/" + name
	code, body, err := c.AdminDo(ctx, http.MethodGet, path, nil)
	if err != nil {
		return lease{}, err
	}
	if code != http.StatusOK {
		return lease{}, fmt.Errorf("GET %s: %d %s", path, code, body)
	}
	var obj struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Spec struct {
			HolderIdentity       string `json:"holderIdentity"`
			LeaseDurationSeconds int    `json:"leaseDurationSeconds"`
			AcquireTime          string `json:"acquireTime"`
			RenewTime            string `json:"renewTime"`
			LeaseTransitions     int    `json:"leaseTransitions"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &obj); err != nil {
		return lease{}, fmt.Errorf("GET %s: %w", path, err)
	}
	l := lease{ResourceVersion: obj.Metadata.ResourceVersion, Holder: obj.Spec.HolderIdentity,
		Transitions: obj.Spec.LeaseTransitions, LeaseDurationSeconds: obj.Spec.LeaseDurationSeconds}
	for _, f := range []struct {
		s   string
		dst *time.Time
	}{{obj.Spec.AcquireTime, &l.AcquireTime}, {obj.Spec.RenewTime, &l.RenewTime}} {
		if f.s == "" {
			continue
		}
		if *f.dst, err = time.Parse(time.RFC3339Nano, f.s); err != nil {
			return lease{}, fmt.Errorf("lease %s: %w", name, err)
		}
	}
	return l, nil
}

// tail returns the last n bytes of the file path, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// durations formats min/p50/max of ds, or "none".
func durations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	return fmt.Sprintf("%s/%s/%s", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}

// lines puts each of ss on a line of its own, indented.
func lines(ss []string) string {
	return "\n\t" + strings.Join(ss, "\n\t")
}
