package harness

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// On reports whether the real API tier is on (KUBELECT_REAL_API=1); when it
// is off it says so on standard output, for the package named pkg.
func On(pkg string) bool {
	if os.Getenv("KUBELECT_REAL_API") == "1" {
		return true
	}
	fmt.Printf("%s: real API tier skipped (set KUBELECT_REAL_API=1 and build the binaries with test/kube/build.sh)\n", pkg)
	return false
}

// StartForTests is Start for a package's TestMain: it allows two minutes
// and says on standard output where kube-apiserver listens and how long it
// took to be ready.
func StartForTests(pkg string, opts Options) (*Cluster, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	fmt.Printf("%s: kube-apiserver %s at %s ready in %v, namespace %s\n", pkg, c.ServerVersion, c.Host, time.Since(start).Round(time.Millisecond), c.Namespace)
	return c, nil
}

// Need returns c, the cluster a package's TestMain started, or skips t
// when there is none (the tier is off).
func Need(t testing.TB, c *Cluster) *Cluster {
	t.Helper()
	if c == nil {
		t.Skip("real API tier is off: set KUBELECT_REAL_API=1")
	}
	return c
}
