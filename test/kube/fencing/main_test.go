package fencing

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// cluster is shared by the tests of this package; nil when the tier is
// off.
var cluster *harness.Cluster

// candBin is the fencecand binary TestMain builds.
var candBin string

// serverVersion is what kube-apiserver reports at /version.
var serverVersion string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if !harness.On("fencing") {
		return m.Run()
	}
	bin, err := os.MkdirTemp("", "kubelect-fencing-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(bin)
	start := time.Now()
	candBin = filepath.Join(bin, "fencecand")
	cmd := exec.Command("go", "build", "-o", candBin, "./testdata/fencecand")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "fencing: go build ./testdata/fencecand: %v\n%s", err, out)
		return 1
	}
	fmt.Printf("fencing: candidate built in %v\n", time.Since(start).Round(time.Millisecond))
	c, err := harness.StartForTests("fencing", harness.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Stop()
	for k, v := range c.Env() {
		os.Setenv(k, v)
	}
	if serverVersion, err = readServerVersion(c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cluster = c
	return m.Run()
}

// readServerVersion is the gitVersion at /version.
func readServerVersion(c *harness.Cluster) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, body, err := c.AdminDo(ctx, http.MethodGet, "/version", nil)
	if err != nil {
		return "", err
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &v) != nil {
		return "", fmt.Errorf("fencing: /version: %d %s", code, body)
	}
	return v.GitVersion, nil
}

// need skips the test when the real API tier is off.
func need(t *testing.T) *harness.Cluster {
	t.Helper()
	return harness.Need(t, cluster)
}
