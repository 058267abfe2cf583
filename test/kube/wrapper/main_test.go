package wrapper

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// cluster is shared by the tests of this package; nil when the real API
// tier is off.
var cluster *harness.Cluster

// The binaries TestMain builds: the kubelect command and the child CMD.
var kubelectBin, childBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv("KUBELECT_REAL_API") != "1" {
		fmt.Println("wrapper: real API tier skipped (set KUBELECT_REAL_API=1 and build the binaries with test/kube/build.sh)")
		return m.Run()
	}
	bin, err := os.MkdirTemp("", "kubelect-wrapper-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(bin)
	start := time.Now()
	kubelectBin = filepath.Join(bin, "kubelect")
	childBin = filepath.Join(bin, "child")
	for _, b := range []struct{ dir, out, pkg string }{
		{filepath.Join("..", "..", "..", "cmd", "kubelect"), kubelectBin, "."},
		{".", childBin, "./testdata/child"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "wrapper: go build %s in %s: %v\n%s", b.pkg, b.dir, err, out)
			return 1
		}
	}
	built := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := harness.Start(ctx, harness.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Stop()
	fmt.Printf("wrapper: binaries built in %v; kube-apiserver at %s ready in %v, namespace %s\n",
		built.Round(time.Millisecond), c.Host, (time.Since(start) - built).Round(time.Millisecond), c.Namespace)
	cluster = c
	return m.Run()
}

// need skips the test when the real API tier is off.
func need(t *testing.T) *harness.Cluster {
	t.Helper()
	if cluster == nil {
		t.Skip("real API tier is off: set KUBELECT_REAL_API=1")
	}
	return cluster
}
