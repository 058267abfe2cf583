// Package realapi runs the library against a real kube-apiserver and etcd
// (the harness). It runs only with KUBELECT_REAL_API=1; otherwise every
// test reports itself as skipped.
package realapi

import (
	"fmt"
	"os"
	"testing"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// cluster is shared by the tests of this package; nil when the tier is
// off.
var cluster *harness.Cluster

func TestMain(m *testing.M) {
	if !harness.On("realapi") {
		os.Exit(m.Run())
	}
	c, err := harness.StartForTests("realapi", harness.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
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
	return harness.Need(t, cluster)
}
