// Package realapi runs the library against a real kube-apiserver and etcd
// (the harness). It runs only with KUBELECT_REAL_API=1; otherwise every
// test reports itself as skipped.
package realapi

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// cluster is shared by the tests of this package; nil when the tier is
// off.
var cluster *harness.Cluster

func TestMain(m *testing.M) {
	if os.Getenv("KUBELECT_REAL_API") != "1" {
		fmt.Println("real API tier: skipped (set KUBELECT_REAL_API=1 and build the binaries with test/kube/build.sh)")
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	start := time.Now()
	c, err := harness.Start(ctx, harness.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("real API tier: kube-apiserver at %s ready in %v, namespace %s\n", c.Host, time.Since(start).Round(time.Millisecond), c.Namespace)
	for k, v := range c.Env() {
		os.Setenv(k, v)
	}
	cluster = c
	code := m.Run()
	c.Stop()
	os.Exit(code)
}

// need skips the test when the real API tier is off.
func need(t *testing.T) *harness.Cluster {
	t.Helper()
	if cluster == nil {
		t.Skip("real API tier is off: set KUBELECT_REAL_API=1")
	}
	return cluster
}
