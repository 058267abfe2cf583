package wrapper

import (
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
	if !harness.On("wrapper") {
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
	// kubelect with its test hooks: SIGUSR1 makes it panic.
	for _, b := range []struct{ dir, out, pkg, tags string }{
		{filepath.Join("..", "..", "..", "cmd", "kubelect"), kubelectBin, ".", "kubelect_testhooks"},
		{".", childBin, "./testdata/child", ""},
	} {
		cmd := exec.Command("go", "build", "-tags", b.tags, "-o", b.out, b.pkg)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "wrapper: go build %s in %s: %v\n%s", b.pkg, b.dir, err, out)
			return 1
		}
	}
	fmt.Printf("wrapper: binaries built in %v\n", time.Since(start).Round(time.Millisecond))
	c, err := harness.StartForTests("wrapper", harness.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Stop()
	cluster = c
	return m.Run()
}

// need skips the test when the real API tier is off.
func need(t *testing.T) *harness.Cluster {
	t.Helper()
	return harness.Need(t, cluster)
}
