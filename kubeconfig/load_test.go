package kubeconfig

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fixture is the absolute path of a file in testdata.
func fixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isolate clears what Load reads from the environment: KUBECONFIG, and
// HOME (an empty folder, so that no ~/.kube/config of the machine is
// read).
func isolate(t *testing.T) (home string) {
	t.Helper()
	home = t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(EnvVar, "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	return home
}

func mustLoad(t *testing.T, opts Options) *k8sapi.Config {
	t.Helper()
	cfg, err := Load(opts)
	if err != nil {
		t.Fatalf("Load(%+v): %v", opts, err)
	}
	if _, err := k8sapi.New(*cfg); err != nil {
		t.Fatalf("k8sapi.New of the loaded config: %v", err)
	}
	return cfg
}

// TestLoadEmbedded reads a file as kind writes it: CA and client
// certificate embedded as base64.
func TestLoadEmbedded(t *testing.T) {
	isolate(t)
	cfg := mustLoad(t, Options{Path: fixture(t, "kubectl/embedded.yaml")})
	if cfg.Host != "https://127.0.0.1:40671" || cfg.Namespace != "default" {
		t.Errorf("Host %q, Namespace %q", cfg.Host, cfg.Namespace)
	}
	if string(cfg.CAData) != string(readFixture(t, "kubectl/pki/ca.crt")) || cfg.CAFile != "" {
		t.Errorf("CAData is not ca.crt, or CAFile %q is set", cfg.CAFile)
	}
	if string(cfg.CertData) != string(readFixture(t, "kubectl/pki/client.crt")) ||
		string(cfg.KeyData) != string(readFixture(t, "kubectl/pki/client.key")) {
		t.Error("CertData or KeyData is not the embedded certificate or key")
	}
	if cfg.BearerToken != "" || cfg.TokenSource != nil || cfg.GetClientCertificate != nil {
		t.Error("credentials besides the client certificate")
	}
}

// TestLoadRelativePaths copies a file that names its CA and client
// certificate by relative paths into another folder: they resolve
// against the file's folder, not the working directory.
func TestLoadRelativePaths(t *testing.T) {
	isolate(t)
	dir := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"files.yaml", "pki/ca.crt", "pki/client.crt", "pki/client.key"} {
		if err := os.WriteFile(filepath.Join(dir, name), readFixture(t, "kubectl/"+name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := mustLoad(t, Options{Path: filepath.Join(dir, "files.yaml")})
	want := map[string]string{
		"CAFile":   filepath.Join(dir, "pki/ca.crt"),
		"CertFile": filepath.Join(dir, "pki/client.crt"),
		"KeyFile":  filepath.Join(dir, "pki/client.key"),
	}
	got := map[string]string{"CAFile": cfg.CAFile, "CertFile": cfg.CertFile, "KeyFile": cfg.KeyFile}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("%s = %q, want %q", k, got[k], want[k])
		}
	}
	if cfg.Namespace != "team-a" || cfg.Host != "https://10.0.0.1:6443" {
		t.Errorf("Namespace %q, Host %q", cfg.Namespace, cfg.Host)
	}

	// A relative path given as Options.Path (or in KUBECONFIG) is relative
	// to the working directory; the paths inside it to its folder.
	cfg = mustLoad(t, Options{Path: filepath.Join("testdata", "kubectl", "files.yaml")})
	if cfg.CAFile != fixture(t, "kubectl/pki/ca.crt") {
		t.Errorf("CAFile = %q, want %q", cfg.CAFile, fixture(t, "kubectl/pki/ca.crt"))
	}
}

// TestLoadToken reads a token, a tls-server-name and a namespace, and a
// tokenFile in another context.
func TestLoadToken(t *testing.T) {
	isolate(t)
	path := fixture(t, "kubectl/token.yaml")
	cfg := mustLoad(t, Options{Path: path})
	if cfg.BearerToken != "fixture-token-0f3a9c1e" || cfg.BearerTokenFile != "" {
		t.Errorf("BearerToken %q, BearerTokenFile %q", cfg.BearerToken, cfg.BearerTokenFile)
	}
	if cfg.TLSServerName != "kubernetes.prod.example" || cfg.Namespace != "ci" || cfg.Host != "https://203.0.113.10:6443" {
		t.Errorf("TLSServerName %q, Namespace %q, Host %q", cfg.TLSServerName, cfg.Namespace, cfg.Host)
	}
	cfg = mustLoad(t, Options{Path: path, Context: "prod-file"})
	if cfg.BearerToken != "" || cfg.BearerTokenFile != fixture(t, "kubectl/pki/token") || cfg.Namespace != "default" {
		t.Errorf("BearerToken %q, BearerTokenFile %q, Namespace %q", cfg.BearerToken, cfg.BearerTokenFile, cfg.Namespace)
	}
}

// TestLoadExec reads an exec section as kubectl config set-credentials
// writes it.
func TestLoadExec(t *testing.T) {
	isolate(t)
	cfg := mustLoad(t, Options{Path: fixture(t, "kubectl/exec.yaml")})
	p, ok := cfg.TokenSource.(*execPlugin)
	if !ok || cfg.GetClientCertificate == nil {
		t.Fatalf("TokenSource %T, GetClientCertificate set %t: want the exec plugin for both", cfg.TokenSource, cfg.GetClientCertificate != nil)
	}
	if p.command != "example-plugin" || strings.Join(p.args, " ") != "get-token --cluster=exec" ||
		strings.Join(p.env, " ") != "PLUGIN_MODE=test EMPTY=" || p.apiVersion != execAPIv1 || p.stdin != nil {
		t.Errorf("plugin %+v", p)
	}
	var info execInfo
	if err := json.Unmarshal([]byte(p.info), &info); err != nil {
		t.Fatal(err)
	}
	if info.APIVersion != execAPIv1 || info.Kind != "ExecCredential" || info.Spec.Interactive || info.Spec.Cluster == nil ||
		info.Spec.Cluster.Server != "https://127.0.0.1:6443" ||
		string(info.Spec.Cluster.CertificateAuthorityData) != string(readFixture(t, "kubectl/pki/ca.crt")) {
		t.Errorf("KUBERNETES_EXEC_INFO %s", p.info)
	}
}

// TestMerge merges files as kubectl does: the first file to define a name
// wins whole, the first current-context wins, missing files and
// repeated entries of KUBECONFIG are skipped.
func TestMerge(t *testing.T) {
	isolate(t)
	first, second, third := fixture(t, "kubectl/first.yaml"), fixture(t, "kubectl/second.yaml"), fixture(t, "kubectl/no-current.yaml")
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	list := func(paths ...string) string { return strings.Join(paths, string(os.PathListSeparator)) }
	for _, tc := range []struct {
		name, kubeconfig, context string
		host, token, ns, sni      string
	}{
		{"current from the first", list(missing, first, second, "", first), "", "https://only-first.example", "first-token-value-1", "default", ""},
		{"first file's entries win whole", list(first, second), "shared", "https://first.example:6443", "first-token-value-1", "first-ns", ""},
		{"second file's entries", list(first, second), "only-second", "https://only-second.example", "only-second-token-3", "default", ""},
		{"other order", list(second, first), "", "https://second.example:6443", "second-token-value-2", "second-ns", "second.example"},
		{"empty current-context skipped", list(third, second, first), "", "https://second.example:6443", "second-token-value-2", "second-ns", "second.example"},
		{"context without a user", list(third, first), "third", "https://third.example", "", "default", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvVar, tc.kubeconfig)
			cfg := mustLoad(t, Options{Context: tc.context})
			if cfg.Host != tc.host || cfg.BearerToken != tc.token || cfg.Namespace != tc.ns || cfg.TLSServerName != tc.sni {
				t.Errorf("Host %q, token %q, Namespace %q, TLSServerName %q; want %q, %q, %q, %q",
					cfg.Host, cfg.BearerToken, cfg.Namespace, cfg.TLSServerName, tc.host, tc.token, tc.ns, tc.sni)
			}
		})
	}
}

// TestMergeRelativePaths: each file's relative paths resolve against its
// own folder.
func TestMergeRelativePaths(t *testing.T) {
	isolate(t)
	a, b := t.TempDir(), t.TempDir()
	ca := readFixture(t, "kubectl/pki/ca.crt")
	for _, d := range []string{a, b} {
		if err := os.WriteFile(filepath.Join(d, "ca.crt"), ca, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write := func(dir, body string) string {
		p := filepath.Join(dir, "config")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pa := write(a, "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority: ca.crt\n    server: https://a.example\n  name: a\n"+
		"contexts:\n- context:\n    cluster: b\n    user: \"\"\n  name: ctx\nkind: Config\n")
	pb := write(b, "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority: ca.crt\n    server: https://b.example\n  name: b\n"+
		"current-context: ctx\nkind: Config\n")
	t.Setenv(EnvVar, pa+string(os.PathListSeparator)+pb)
	cfg := mustLoad(t, Options{})
	if cfg.Host != "https://b.example" || cfg.CAFile != filepath.Join(b, "ca.crt") {
		t.Errorf("Host %q, CAFile %q: want b's cluster with b's CA", cfg.Host, cfg.CAFile)
	}
}

// TestLoadDefaultFile reads ~/.kube/config when KUBECONFIG is unset.
func TestLoadDefaultFile(t *testing.T) {
	home := isolate(t)
	if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".kube", "config"), readFixture(t, "kubectl/embedded.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustLoad(t, Options{})
	if cfg.Host != "https://127.0.0.1:40671" {
		t.Errorf("Host %q", cfg.Host)
	}
}

// TestClouds reads files as the cloud CLIs and minikube write them.
func TestClouds(t *testing.T) {
	isolate(t)
	t.Run("eks", func(t *testing.T) {
		cfg := mustLoad(t, Options{Path: fixture(t, "clouds/eks.yaml")})
		p := cfg.TokenSource.(*execPlugin)
		if p.command != "aws" || strings.Join(p.args, " ") != "--region us-west-2 eks get-token --cluster-name demo --output json" ||
			strings.Join(p.env, " ") != "AWS_PROFILE=dev" || p.apiVersion != execAPIv1beta1 || p.user != "arn:aws:eks:us-west-2:111122223333:cluster/demo" {
			t.Errorf("plugin %+v", p)
		}
		if !strings.Contains(p.info, `"interactive":false`) || strings.Contains(p.info, "cluster") {
			t.Errorf("KUBERNETES_EXEC_INFO %s: want not interactive (no ExecStdin), no cluster", p.info)
		}
	})
	t.Run("gke", func(t *testing.T) {
		cfg := mustLoad(t, Options{Path: fixture(t, "clouds/gke.yaml")})
		p := cfg.TokenSource.(*execPlugin)
		if p.command != "gke-gcloud-auth-plugin" || !strings.Contains(p.installHint, "gke-gcloud-auth-plugin for use with kubectl") {
			t.Errorf("plugin %+v", p)
		}
		var info execInfo
		if err := json.Unmarshal([]byte(p.info), &info); err != nil || info.Spec.Cluster == nil ||
			info.Spec.Cluster.Server != "https://34.118.0.10" || len(info.Spec.Cluster.CertificateAuthorityData) == 0 {
			t.Errorf("KUBERNETES_EXEC_INFO %s (%v): want the cluster", p.info, err)
		}
	})
	t.Run("aks", func(t *testing.T) {
		cfg := mustLoad(t, Options{Path: fixture(t, "clouds/aks.yaml")})
		p := cfg.TokenSource.(*execPlugin)
		if p.command != "kubelogin" || len(p.env) != 0 || !strings.Contains(p.installHint, "kubelogin is not installed") {
			t.Errorf("plugin %+v", p)
		}
		cfg = mustLoad(t, Options{Path: fixture(t, "clouds/aks.yaml"), ExecStdin: strings.NewReader("")})
		if p := cfg.TokenSource.(*execPlugin); !strings.Contains(p.info, `"interactive":true`) || p.stdin == nil {
			t.Errorf("IfAvailable with ExecStdin: KUBERNETES_EXEC_INFO %s, stdin %v", p.info, p.stdin)
		}
	})
	t.Run("minikube", func(t *testing.T) {
		home := t.TempDir()
		profile := filepath.Join(home, ".minikube", "profiles", "minikube")
		if err := os.MkdirAll(profile, 0o700); err != nil {
			t.Fatal(err)
		}
		for src, dst := range map[string]string{
			"kubectl/pki/ca.crt":     filepath.Join(home, ".minikube", "ca.crt"),
			"kubectl/pki/client.crt": filepath.Join(profile, "client.crt"),
			"kubectl/pki/client.key": filepath.Join(profile, "client.key"),
		} {
			if err := os.WriteFile(dst, readFixture(t, src), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		body := strings.ReplaceAll(string(readFixture(t, "clouds/minikube.yaml")), "/home/user", home)
		path := filepath.Join(home, ".kube", "config")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := mustLoad(t, Options{Path: path})
		if cfg.Host != "https://192.168.49.2:8443" || cfg.CAFile != filepath.Join(home, ".minikube", "ca.crt") ||
			cfg.CertFile != filepath.Join(profile, "client.crt") || cfg.Namespace != "default" {
			t.Errorf("config %+v", cfg)
		}
	})
}

// secrets are the secret values of the fixtures: no error may show one.
var secrets = []string{
	"fixture-token-0f3a9c1e", "fixture-file-token-7b2d", "first-token-value-1", "second-token-value-2",
	"insecure-token-value", "fixture-password-9d", "fixture-id-token-5c", "impersonator-token-4e", "leaky-token",
	"PRIVATE KEY",
}

// base is a valid file, to which a case of TestLoadErrors adds a line or
// from which it removes one.
const base = `apiVersion: v1
clusters:
- cluster:
    certificate-authority: pki/ca.crt
    server: https://127.0.0.1:6443
  name: c
contexts:
- context:
    cluster: c
    user: u
  name: ctx
current-context: ctx
kind: Config
preferences: {}
users:
- name: u
  user:
    token: fixture-token-0f3a9c1e
`

func TestLoadErrors(t *testing.T) {
	home := isolate(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca.crt", "client.crt", "client.key"} {
		if err := os.WriteFile(filepath.Join(dir, "pki", name), readFixture(t, "kubectl/pki/"+name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clientKeyB64 := b64(readFixture(t, "kubectl/pki/client.key"))
	withUser := func(lines string) string {
		return strings.Replace(base, "    token: fixture-token-0f3a9c1e\n", lines, 1)
	}
	withCluster := func(lines string) string {
		return strings.Replace(base, "    certificate-authority: pki/ca.crt\n", lines, 1)
	}
	execUser := func(lines string) string {
		return withUser("    exec:\n      command: plugin\n" + lines)
	}
	missing := filepath.Join(dir, "missing.yaml")
	for _, tc := range []struct {
		name     string
		body     string // the kubeconfig; "" to load fixture instead
		fixture  string
		opts     Options
		env      string // KUBECONFIG, when set
		want     error
		contains string
	}{
		{name: "explicit path missing", opts: Options{Path: missing}, want: fs.ErrNotExist, contains: "missing.yaml"},
		{name: "KUBECONFIG files all missing", env: missing, want: ErrNoConfig, contains: "KUBECONFIG"},
		{name: "no ~/.kube/config", want: ErrNoConfig, contains: filepath.Join(home, ".kube", "config")},
		{name: "bad YAML", body: "clusters: [\n", want: ErrInvalidConfig, contains: "line"},
		{name: "a list where a map goes", body: withUser("    exec: [leaky-token]\n"), want: ErrInvalidConfig},
		{name: "not a Config", body: "apiVersion: v1\nkind: Pod\n", want: ErrInvalidConfig, contains: `kind is "Pod"`},
		{name: "other apiVersion", body: strings.Replace(base, "apiVersion: v1\n", "apiVersion: v2\n", 1), want: ErrInvalidConfig, contains: "v2"},
		{name: "cluster twice", body: strings.Replace(base, "contexts:", "- cluster:\n    server: https://x\n  name: c\ncontexts:", 1), want: ErrInvalidConfig, contains: `cluster "c" is defined twice`},
		{name: "no current-context", body: strings.Replace(base, "current-context: ctx\n", "", 1), want: ErrContextNotFound, contains: "use-context"},
		{name: "unknown context", body: base, opts: Options{Context: "nope"}, want: ErrContextNotFound, contains: `"nope"`},
		{name: "context without cluster", body: strings.Replace(base, "    cluster: c\n", "", 1), want: ErrInvalidConfig, contains: "names no cluster"},
		{name: "unknown cluster", body: strings.Replace(base, "    cluster: c\n", "    cluster: other\n", 1), want: ErrInvalidConfig, contains: `cluster "other"`},
		{name: "unknown user", body: strings.Replace(base, "    user: u\n", "    user: other\n", 1), want: ErrInvalidConfig, contains: `user "other"`},
		{name: "no server", body: strings.Replace(base, "    server: https://127.0.0.1:6443\n", "", 1), want: ErrInvalidConfig, contains: "no server"},
		{name: "CA file and data", body: withCluster("    certificate-authority: pki/ca.crt\n    certificate-authority-data: " + b64([]byte("x")) + "\n"), want: ErrInvalidConfig, contains: "both"},
		{name: "CA file missing", body: withCluster("    certificate-authority: pki/nope.crt\n"), want: fs.ErrNotExist, contains: "nope.crt"},
		{name: "CA data not base64", body: withCluster("    certificate-authority-data: '%%%'\n"), want: ErrInvalidConfig, contains: "not base64"},
		{name: "key data not base64", body: withUser("    client-certificate: pki/client.crt\n    client-key-data: '" + clientKeyB64[:20] + "%'\n"), want: ErrInvalidConfig, contains: "client-key-data is not base64"},
		{name: "certificate without key", body: withUser("    client-certificate: pki/client.crt\n"), want: ErrInvalidConfig, contains: "without its key"},
		{name: "key without certificate", body: withUser("    client-key-data: " + clientKeyB64 + "\n"), want: ErrInvalidConfig, contains: "without a certificate"},
		{name: "certificate file and data", body: withUser("    client-certificate: pki/client.crt\n    client-certificate-data: eA==\n    client-key: pki/client.key\n"), want: ErrInvalidConfig, contains: "both"},
		{name: "key file missing", body: withUser("    client-certificate: pki/client.crt\n    client-key: pki/gone.key\n"), want: fs.ErrNotExist, contains: "gone.key"},
		{name: "tokenFile missing", body: withUser("    tokenFile: pki/gone-token\n"), want: fs.ErrNotExist, contains: "gone-token"},
		{name: "insecure-skip-tls-verify", fixture: "kubectl/insecure.yaml", want: ErrUnsupported, contains: "--certificate-authority"},
		{name: "basic auth", fixture: "kubectl/basic.yaml", want: ErrUnsupported, contains: "basic authentication"},
		{name: "auth-provider oidc", fixture: "kubectl/auth-provider.yaml", want: ErrUnsupported, contains: "oidc-login"},
		{name: "auth-provider gcp", body: withUser("    auth-provider:\n      config:\n        access-token: leaky-token\n      name: gcp\n"), want: ErrUnsupported, contains: "gke-gcloud-auth-plugin"},
		{name: "auth-provider azure", body: withUser("    auth-provider:\n      name: azure\n"), want: ErrUnsupported, contains: "kubelogin"},
		{name: "impersonation", body: withUser("    as: admin\n    token: impersonator-token-4e\n"), want: ErrUnsupported, contains: "impersonates"},
		{name: "impersonated groups", body: withUser("    as-groups:\n    - system:masters\n"), want: ErrUnsupported, contains: "impersonates"},
		{name: "proxy-url", body: withCluster("    proxy-url: http://proxy.example:3128\n"), want: ErrUnsupported, contains: "HTTPS_PROXY"},
		{name: "exec without apiVersion", body: execUser("      interactiveMode: Never\n"), want: ErrInvalidConfig, contains: "no apiVersion"},
		{name: "exec v1alpha1", body: execUser("      apiVersion: client.authentication.k8s.io/v1alpha1\n"), want: ErrUnsupported, contains: "1.24"},
		{name: "exec other apiVersion", body: execUser("      apiVersion: example.com/v1\n"), want: ErrInvalidConfig, contains: "example.com/v1"},
		{name: "exec without command", body: withUser("    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      interactiveMode: Never\n"), want: ErrInvalidConfig, contains: "no command"},
		{name: "exec v1 without interactiveMode", body: execUser("      apiVersion: client.authentication.k8s.io/v1\n"), want: ErrInvalidConfig, contains: "interactiveMode"},
		{name: "exec bad interactiveMode", body: execUser("      apiVersion: client.authentication.k8s.io/v1\n      interactiveMode: Sometimes\n"), want: ErrInvalidConfig, contains: "Sometimes"},
		{name: "exec Always without ExecStdin", body: execUser("      apiVersion: client.authentication.k8s.io/v1\n      interactiveMode: Always\n"), want: ErrExecPlugin, contains: "needs a terminal"},
		{name: "exec env without name", body: execUser("      apiVersion: client.authentication.k8s.io/v1beta1\n      env:\n      - value: leaky-token\n"), want: ErrInvalidConfig, contains: "env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvVar, tc.env)
			opts := tc.opts
			switch {
			case tc.fixture != "":
				opts.Path = fixture(t, tc.fixture)
			case tc.body != "":
				opts.Path = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
				if err := os.WriteFile(opts.Path, []byte(tc.body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := Load(opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Load: %v (config %+v), want an error wrapping %v", err, cfg, tc.want)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not say %q", err, tc.contains)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%#v", err), s) {
					t.Errorf("error shows the secret %q: %v", s, err)
				}
			}
		})
	}
}

// TestExecIgnoredBesideStaticCredentials: as kubectl, a user with a token
// or a client certificate does not run its exec plugin.
func TestExecIgnoredBesideStaticCredentials(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	body := strings.Replace(base, "    certificate-authority: pki/ca.crt\n", "", 1)
	body = strings.Replace(body, "    token: fixture-token-0f3a9c1e\n",
		"    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: plugin\n      interactiveMode: Never\n    token: fixture-token-0f3a9c1e\n", 1)
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustLoad(t, Options{Path: path})
	if cfg.TokenSource != nil || cfg.BearerToken != "fixture-token-0f3a9c1e" {
		t.Errorf("TokenSource %v, BearerToken set %t: want the token only", cfg.TokenSource, cfg.BearerToken != "")
	}
}

// TestServerWithoutScheme: kubectl reads a bare host:port as https.
func TestServerWithoutScheme(t *testing.T) {
	isolate(t)
	path := filepath.Join(t.TempDir(), "config")
	body := strings.Replace(base, "https://127.0.0.1:6443", "127.0.0.1:6443", 1)
	body = strings.Replace(body, "    certificate-authority: pki/ca.crt\n", "", 1)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg := mustLoad(t, Options{Path: path}); cfg.Host != "https://127.0.0.1:6443" {
		t.Errorf("Host %q", cfg.Host)
	}
}

func TestInClusterOrLoad(t *testing.T) {
	saDir := t.TempDir()
	for name, content := range map[string][]byte{
		"token": []byte("sa-token\n"), "ca.crt": readFixture(t, "kubectl/pki/ca.crt"), "namespace": []byte("pod-ns"),
	} {
		if err := os.WriteFile(filepath.Join(saDir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := serviceAccountDir
	t.Cleanup(func() { serviceAccountDir = old })
	inPod := func(t *testing.T) {
		t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
		t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	}
	kubeconfig := fixture(t, "kubectl/token.yaml")

	t.Run("in a pod", func(t *testing.T) {
		isolate(t)
		inPod(t)
		serviceAccountDir = saDir
		cfg, err := InClusterOrLoad(Options{})
		if err != nil || cfg.Host != "https://10.96.0.1:443" || cfg.Namespace != "pod-ns" {
			t.Errorf("InClusterOrLoad: %+v, %v: want the pod's service account", cfg, err)
		}
	})
	t.Run("in a pod with KUBECONFIG", func(t *testing.T) {
		isolate(t)
		inPod(t)
		serviceAccountDir = saDir
		t.Setenv(EnvVar, kubeconfig)
		if cfg, err := InClusterOrLoad(Options{}); err != nil || cfg.Namespace != "ci" {
			t.Errorf("InClusterOrLoad: %+v, %v: want the kubeconfig", cfg, err)
		}
	})
	t.Run("in a pod with a path", func(t *testing.T) {
		isolate(t)
		inPod(t)
		serviceAccountDir = saDir
		if cfg, err := InClusterOrLoad(Options{Path: kubeconfig}); err != nil || cfg.Namespace != "ci" {
			t.Errorf("InClusterOrLoad: %+v, %v: want the kubeconfig", cfg, err)
		}
	})
	t.Run("in a pod without service-account files", func(t *testing.T) {
		home := isolate(t)
		inPod(t)
		serviceAccountDir = t.TempDir()
		if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, ".kube", "config"), readFixture(t, "kubectl/token.yaml"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := InClusterOrLoad(Options{})
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, k8sapi.ErrNotInCluster) {
			t.Errorf("error %v: want the missing service-account file, not a fallback", err)
		}
	})
	t.Run("outside, ~/.kube/config", func(t *testing.T) {
		home := isolate(t)
		serviceAccountDir = saDir
		if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, ".kube", "config"), readFixture(t, "kubectl/token.yaml"), 0o600); err != nil {
			t.Fatal(err)
		}
		if cfg, err := InClusterOrLoad(Options{}); err != nil || cfg.Namespace != "ci" {
			t.Errorf("InClusterOrLoad: %+v, %v: want ~/.kube/config", cfg, err)
		}
	})
	t.Run("nothing", func(t *testing.T) {
		isolate(t)
		serviceAccountDir = saDir
		_, err := InClusterOrLoad(Options{})
		if !errors.Is(err, ErrNoConfig) || !strings.Contains(err.Error(), "not in a pod") {
			t.Errorf("error %v: want ErrNoConfig saying it is not in a pod", err)
		}
	})
}
