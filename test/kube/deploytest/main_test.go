// Package deploytest checks the manifests under deploy/ and the binaries the
// Dockerfile builds.
//
// Without a cluster (always): every manifest parses, each of the three
// patterns has its ServiceAccount, Role, RoleBinding and 3-replica
// Deployment (the sidecar and the wrapper also a Service that selects the
// pod kubelect labels as the leader's, with --label-pod and patch on pods),
// the restricted security context, the pod name as identity,
// probes on the health endpoints the program serves, and a
// terminationGracePeriodSeconds that covers the stop the program's own
// timings allow; deploy/build-static.sh builds a binary that
// deploy/checkstatic finds static.
//
// With KUBELECT_REAL_API=1, against a real kube-apiserver (the harness):
// every object is accepted by a server-side dry run (?dryRun=All) in a
// namespace that enforces and warns on the "restricted" Pod Security
// level, without a Warning; the RBAC objects are created for real and, as
// each ServiceAccount, resourcelock.CheckAccess passes while every request
// beyond the Role's purpose is denied; and the real programs (kubelect,
// examples/controller) run with the manifests' own arguments and
// environment as that ServiceAccount, lead, answer their probes and
// release the Lease on SIGTERM.
package deploytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// repoRoot is the repository's root, from this package's folder.
const repoRoot = "../../.."

var (
	// cluster is the harness; nil when the real tier is off.
	cluster *harness.Cluster
	// kubelectBin and controllerBin are built by deploy/build-static.sh.
	kubelectBin, controllerBin string
	// buildErr says why they could not be built.
	buildErr error
	// inCluster is true when a process can be given a private mount
	// namespace with the service-account files at the path a pod has them
	// (root and unshare(1)); else kubelect gets a kubeconfig instead.
	inCluster bool
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "deploytest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	kubelectBin, controllerBin = filepath.Join(dir, "kubelect"), filepath.Join(dir, "controller")
	for prog, out := range map[string]string{"kubelect": kubelectBin, "controller": controllerBin} {
		cmd := exec.Command("bash", filepath.Join(repoRoot, "deploy", "build-static.sh"), out, prog)
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("deploy/build-static.sh %s: %v\n%s", prog, err, b)
		}
	}

	if !harness.On("deploytest") {
		return m.Run()
	}
	c, err := harness.StartForTests("deploytest", harness.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Stop()
	cluster = c
	// DEPLOYTEST_NO_UNSHARE=1 tries the $KUBECONFIG way as a user without
	// root would.
	inCluster = os.Getenv("DEPLOYTEST_NO_UNSHARE") != "1" && canUnshareMounts()
	return m.Run()
}

// need skips the test when the real API tier is off.
func need(t *testing.T) *harness.Cluster {
	t.Helper()
	return harness.Need(t, cluster)
}

// needBinaries fails the test when the binaries could not be built.
func needBinaries(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}
