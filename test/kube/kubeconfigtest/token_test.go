package kubeconfigtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubelect/kubelect/kubeconfig"
)

// An inline token: the client is the ServiceAccount, in the context's
// namespace, and may do the lease operations of leader election.
func TestToken(t *testing.T) {
	need(t)
	cfg := load(t, singleContext("sa", realCluster(), userSection{Token: newSAToken(t)}, cluster.Namespace))
	if cfg.Namespace != cluster.Namespace {
		t.Errorf("Namespace %q, want the context's %q", cfg.Namespace, cluster.Namespace)
	}
	c := newClient(t, cfg)
	mustBe(t, c, saUser(cluster.ServiceAccount))
	leaseRoundTrip(t, c, "kubeconfigtest-token")
}

// A tokenFile named relative to the kubeconfig's folder.
func TestTokenFile(t *testing.T) {
	need(t)
	dir := t.TempDir()
	writeFile(t, dir, "sa-token", []byte(newSAToken(t)+"\n"))
	path := writeKubeconfig(t, dir, "config", singleContext("sa-file", realCluster(), userSection{TokenFile: "sa-token"}, ""))
	t.Chdir(t.TempDir()) // the file is found from the kubeconfig's folder, not the working directory
	cfg := loadPath(t, path)
	if cfg.Namespace != kubeconfig.DefaultNamespace {
		t.Errorf("Namespace %q, want %q for a context without one", cfg.Namespace, kubeconfig.DefaultNamespace)
	}
	c := newClient(t, cfg)
	mustBe(t, c, saUser(cluster.ServiceAccount))
	leaseRoundTrip(t, c, "kubeconfigtest-tokenfile")
}

// The token file is rotated on disk to the token of another
// ServiceAccount, and the old token is revoked: the client goes on
// without an error and becomes the new ServiceAccount. (kube-apiserver
// caches a token's authentication for up to 10 s, so the old token works
// a while after it is revoked; the client re-reads the file at its first
// 401.)
func TestTokenFileRotation(t *testing.T) {
	need(t)
	t.Parallel()
	ctx := context.Background()
	const rotated = "kubeconfigtest-rotated"
	newToken, err := cluster.CreateServiceAccount(ctx, cluster.Namespace, rotated, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldToken, revoke := secretBoundToken(t)

	dir := t.TempDir()
	tokenPath := writeFile(t, dir, "token", []byte(oldToken))
	cfg := load(t, singleContext("rotating", realCluster(), userSection{TokenFile: tokenPath}, ""))
	c := newClient(t, cfg)
	mustBe(t, c, saUser(cluster.ServiceAccount))

	// Rotate as the kubelet does: the new file replaces the old at once.
	tmp := writeFile(t, dir, ".token.new", []byte(newToken+"\n"))
	if err := os.Rename(tmp, tokenPath); err != nil {
		t.Fatal(err)
	}
	revoke()

	deadline := time.Now().Add(30 * time.Second)
	for n := 1; ; n++ {
		ui, err := whoami(ctx, c)
		if err != nil {
			t.Fatalf("request %d after the rotation: %v", n, err)
		}
		if ui.Username == saUser(rotated) {
			t.Logf("request %d after the rotation used the new token", n)
			break
		}
		if ui.Username != saUser(cluster.ServiceAccount) {
			t.Fatalf("request %d after the rotation: the server takes the client for %q", n, ui.Username)
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the rotation and the revocation, the client still sends the old token (%d requests)", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// And it stays on the new token.
	mustBe(t, c, saUser(rotated))
}

// KUBECONFIG lists two files: the first has the context and the
// current-context, the second the cluster and the user. InClusterOrLoad
// takes the kubeconfig over the pod environment it also sees, and merges
// as kubectl does: the first file's context wins over the second's of the
// same name, and the first current-context wins.
func TestKubeconfigMerge(t *testing.T) {
	need(t)
	dir := t.TempDir()
	first := writeKubeconfig(t, dir, "first", kubeconfigFile{
		Contexts:       []namedContext{{Name: "merged", Context: contextSection{Cluster: "real", User: "sa", Namespace: cluster.Namespace}}},
		CurrentContext: "merged",
	})
	second := writeKubeconfig(t, dir, "second", kubeconfigFile{
		Clusters: []namedCluster{
			{Name: "real", Cluster: realCluster()},
			{Name: "decoy", Cluster: clusterSection{Server: "https://127.0.0.1:1", CertificateAuthority: cluster.CAFile}},
		},
		Users: []namedUser{{Name: "sa", User: userSection{Token: newSAToken(t)}}},
		Contexts: []namedContext{
			{Name: "merged", Context: contextSection{Cluster: "decoy", User: "sa", Namespace: "decoy"}},
			{Name: "decoy", Context: contextSection{Cluster: "decoy", User: "sa"}},
		},
		CurrentContext: "decoy",
	})
	t.Setenv(kubeconfig.EnvVar, first+string(filepath.ListSeparator)+second)
	// A pod's environment, whose service-account files do not exist here.
	t.Setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "1")

	cfg, err := kubeconfig.InClusterOrLoad(kubeconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != cluster.Host || cfg.Namespace != cluster.Namespace {
		t.Fatalf("InClusterOrLoad: host %s namespace %q, want %s and %q", cfg.Host, cfg.Namespace, cluster.Host, cluster.Namespace)
	}
	c := newClient(t, cfg)
	mustBe(t, c, saUser(cluster.ServiceAccount))
	leaseRoundTrip(t, c, "kubeconfigtest-merged")
}
