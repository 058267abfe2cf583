package kubeconfigtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// The files the tests write are laid out as kubectl lays them out: the
// same configuration made with `kubectl config` comes out byte for byte
// the same. It uses the kubectl that build.sh builds (v1.37.2, like
// kube-apiserver); on the real tier that kubectl must be there, elsewhere
// the test is skipped when there is none. Needs no server.
func TestLayoutMatchesKubectl(t *testing.T) {
	kubectl := filepath.Join(harness.BinDir(), "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		if os.Getenv("KUBELECT_REAL_API") == "1" {
			t.Fatalf("kubectl not built (run test/kube/build.sh): %v", err)
		}
		t.Skip("kubectl is not built: run test/kube/build.sh")
	}
	dir := t.TempDir()
	ca := newCA(t)
	certPEM, keyPEM := selfSignedClient(t, "layout-user")
	writeFile(t, dir, "ca.crt", ca)
	writeFile(t, dir, "client.crt", certPEM)
	writeFile(t, dir, "client.key", keyPEM)

	path := filepath.Join(dir, "by-kubectl")
	k := func(args ...string) {
		t.Helper()
		cmd := exec.Command(kubectl, append([]string{"config"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "KUBECONFIG="+path, "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kubectl config %q: %v\n%s", args, err, out)
		}
	}
	k("set-cluster", "real", "--server=https://127.0.0.1:6443", "--certificate-authority=ca.crt", "--tls-server-name=kubernetes.default.svc")
	k("set-cluster", "embedded", "--server=https://localhost:6443", "--certificate-authority=ca.crt", "--embed-certs")
	k("set-credentials", "token", "--token=layout-token-1")
	k("set", "users.file.tokenFile", "token")
	k("set-credentials", "cert", "--client-certificate=client.crt", "--client-key=client.key")
	k("set-credentials", "cert-data", "--client-certificate=client.crt", "--client-key=client.key", "--embed-certs")
	k("set-credentials", "exec", "--exec-command=/bin/plugin", "--exec-api-version=client.authentication.k8s.io/v1",
		"--exec-arg=-log", "--exec-arg=/tmp/log", "--exec-env=PLUGIN_MODE=real-api",
		"--exec-interactive-mode=Never", "--exec-provide-cluster-info=true")
	// One variable per user: kubectl keeps them in a map, so their order
	// varies.
	k("set-credentials", "exec-beta", "--exec-command=bin/plugin", "--exec-api-version=client.authentication.k8s.io/v1beta1",
		"--exec-env=PLUGIN_EMPTY=")
	k("set-context", "ns", "--cluster=real", "--user=token", "--namespace=team-a")
	k("set-context", "plain", "--cluster=embedded", "--user=exec")
	k("use-context", "ns")
	byKubectl, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	ours, err := marshalKubeconfig(kubeconfigFile{
		Clusters: []namedCluster{
			{Name: "real", Cluster: clusterSection{Server: "https://127.0.0.1:6443", CertificateAuthority: "ca.crt", TLSServerName: "kubernetes.default.svc"}},
			{Name: "embedded", Cluster: clusterSection{Server: "https://localhost:6443", CertificateAuthorityData: ca}},
		},
		Users: []namedUser{
			{Name: "token", User: userSection{Token: "layout-token-1"}},
			{Name: "file", User: userSection{TokenFile: "token"}},
			{Name: "cert", User: userSection{ClientCertificate: "client.crt", ClientKey: "client.key"}},
			{Name: "cert-data", User: userSection{ClientCertificateData: certPEM, ClientKeyData: keyPEM}},
			{Name: "exec", User: userSection{Exec: &execSection{
				Command: "/bin/plugin", Args: []string{"-log", "/tmp/log"},
				Env:        []execEnv{{Name: "PLUGIN_MODE", Value: "real-api"}},
				APIVersion: execV1, InteractiveMode: "Never", ProvideClusterInfo: true,
			}}},
			{Name: "exec-beta", User: userSection{Exec: &execSection{
				Command: "bin/plugin", APIVersion: execV1beta1, InteractiveMode: "IfAvailable",
				Env: []execEnv{{Name: "PLUGIN_EMPTY", Value: ""}},
			}}},
		},
		Contexts: []namedContext{
			{Name: "ns", Context: contextSection{Cluster: "real", User: "token", Namespace: "team-a"}},
			{Name: "plain", Context: contextSection{Cluster: "embedded", User: "exec"}},
		},
		CurrentContext: "ns",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours, byKubectl) {
		t.Fatalf("kubectl wrote:\n%s\nthe tests write:\n%s", byKubectl, ours)
	}

	// (kubectl writes an exec command given as ./plugin as "plugin",
	// which is then looked up in PATH; a path with a folder, bin/plugin,
	// it keeps, and the tests use that form.)

	// And kubectl's layout of an empty list.
	empty, err := marshalKubeconfig(kubeconfigFile{Contexts: []namedContext{{Name: "c", Context: contextSection{Cluster: "x"}}}})
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "empty-by-kubectl")
	k("set-context", "c", "--cluster=x")
	if byKubectl, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(empty, byKubectl) {
		t.Fatalf("kubectl wrote:\n%s\nthe tests write:\n%s", byKubectl, empty)
	}
}
