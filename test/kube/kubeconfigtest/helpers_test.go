package kubeconfigtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/kubeconfig"
)

// The kubeconfig file format as kubectl writes it (clientcmd/api/v1):
// the same fields, the same omitempty, so that marshalKubeconfig gives
// what `kubectl config set-...` gives (see TestLayoutMatchesKubectl).

type kubeconfigFile struct {
	Clusters       []namedCluster
	Users          []namedUser
	Contexts       []namedContext
	CurrentContext string
}

type namedCluster struct {
	Name    string         `json:"name"`
	Cluster clusterSection `json:"cluster"`
}

type clusterSection struct {
	Server                   string `json:"server"`
	TLSServerName            string `json:"tls-server-name,omitempty"`
	CertificateAuthority     string `json:"certificate-authority,omitempty"`
	CertificateAuthorityData []byte `json:"certificate-authority-data,omitempty"`
}

type namedUser struct {
	Name string      `json:"name"`
	User userSection `json:"user"`
}

type userSection struct {
	ClientCertificate     string       `json:"client-certificate,omitempty"`
	ClientCertificateData []byte       `json:"client-certificate-data,omitempty"`
	ClientKey             string       `json:"client-key,omitempty"`
	ClientKeyData         []byte       `json:"client-key-data,omitempty"`
	Token                 string       `json:"token,omitempty"`
	TokenFile             string       `json:"tokenFile,omitempty"`
	Exec                  *execSection `json:"exec,omitempty"`
}

type execSection struct {
	Command            string    `json:"command"`
	Args               []string  `json:"args"`
	Env                []execEnv `json:"env"`
	APIVersion         string    `json:"apiVersion,omitempty"`
	ProvideClusterInfo bool      `json:"provideClusterInfo"`
	InteractiveMode    string    `json:"interactiveMode,omitempty"`
}

type execEnv struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type namedContext struct {
	Name    string         `json:"name"`
	Context contextSection `json:"context"`
}

type contextSection struct {
	Cluster   string `json:"cluster"`
	User      string `json:"user"`
	Namespace string `json:"namespace,omitempty"`
}

// marshalKubeconfig lays kc out as kubectl v1.37.2 does (no "preferences",
// which kubectl before 1.34 or so wrote as {}): kubectl keeps the lists
// as maps (so they come out sorted by name) and writes YAML through JSON
// (so keys come out sorted, empty lists as null), with two-space indents
// and list items at their key's level.
func marshalKubeconfig(kc kubeconfigFile) ([]byte, error) {
	byName := func(a, b string) int { return strings.Compare(a, b) }
	kc.Clusters = slices.Clone(kc.Clusters)
	slices.SortFunc(kc.Clusters, func(a, b namedCluster) int { return byName(a.Name, b.Name) })
	kc.Users = slices.Clone(kc.Users)
	slices.SortFunc(kc.Users, func(a, b namedUser) int { return byName(a.Name, b.Name) })
	kc.Contexts = slices.Clone(kc.Contexts)
	slices.SortFunc(kc.Contexts, func(a, b namedContext) int { return byName(a.Name, b.Name) })
	b, err := json.Marshal(map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        kc.Clusters,
		"users":           kc.Users,
		"contexts":        kc.Contexts,
		"current-context": kc.CurrentContext,
	})
	if err != nil {
		return nil, err
	}
	var generic any // through a generic value, encoding/json sorts every object's keys
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, err
	}
	if b, err = json.Marshal(generic); err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	plainStyle(&doc)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// plainStyle drops the JSON styles (quotes, flow) so that the encoder
// quotes only what needs it, as kubectl's YAML writer does.
func plainStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plainStyle(c)
	}
}

// writeKubeconfig writes kc to dir/name and returns the path.
func writeKubeconfig(t *testing.T, dir, name string, kc kubeconfigFile) string {
	t.Helper()
	b, err := marshalKubeconfig(kc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// singleContext is a kubeconfig with one cluster, one user and one
// context of the same name, current.
func singleContext(name string, cl clusterSection, u userSection, namespace string) kubeconfigFile {
	return kubeconfigFile{
		Clusters:       []namedCluster{{Name: name, Cluster: cl}},
		Users:          []namedUser{{Name: name, User: u}},
		Contexts:       []namedContext{{Name: name, Context: contextSection{Cluster: name, User: name, Namespace: namespace}}},
		CurrentContext: name,
	}
}

// realCluster is the test cluster's section: its server and CA file.
func realCluster() clusterSection {
	return clusterSection{Server: cluster.Host, CertificateAuthority: cluster.CAFile}
}

// load writes kc to a new folder and loads it with kubeconfig.Load.
func load(t *testing.T, kc kubeconfigFile) *k8sapi.Config {
	t.Helper()
	return loadPath(t, writeKubeconfig(t, t.TempDir(), "config", kc))
}

// loadPath loads the kubeconfig file path with kubeconfig.Load.
func loadPath(t *testing.T, path string) *k8sapi.Config {
	t.Helper()
	cfg, err := kubeconfig.Load(kubeconfig.Options{Path: path})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

// whoamiLease is the Lease name that whoamiTransport turns into a
// SelfSubjectReview.
const whoamiLease = "kubeconfigtest-whoami"

// whoamiTransport turns a GET of the Lease whoamiLease into a POST of a
// SelfSubjectReview, keeping the request's credentials (its Authorization
// header and the connection's client certificate): k8sapi reads only
// namespaced objects, and the review says who the server thinks the
// client is. It sits below k8sapi's auth layer, as Config.WrapTransport.
type whoamiTransport struct{ next http.RoundTripper }

func (w whoamiTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/leases/"+whoamiLease) {
		return w.next.RoundTrip(req)
	}
	body := []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	r := req.Clone(req.Context())
	r.Method = http.MethodPost
	r.URL.Path, r.URL.RawPath = "/apis/authentication.k8s.io/v1/selfsubjectreviews", ""
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Type", "application/json")
	return w.next.RoundTrip(r)
}

// newClient makes a k8sapi client of cfg that can also ask whoami.
func newClient(t *testing.T, cfg *k8sapi.Config) *k8sapi.Client {
	t.Helper()
	c := *cfg
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return whoamiTransport{rt} }
	c.WarningHandler = func(string) {}
	c.Timeout = 20 * time.Second
	client, err := k8sapi.New(c)
	if err != nil {
		t.Fatalf("k8sapi.New: %v", err)
	}
	return client
}

// userInfo is what the server thinks the client is.
type userInfo struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

// whoami asks the server who the client is (a SelfSubjectReview).
func whoami(ctx context.Context, c *k8sapi.Client) (userInfo, error) {
	obj, err := c.Get(ctx, k8sapi.Leases, "default", whoamiLease)
	if err != nil {
		return userInfo{}, err
	}
	var ui userInfo
	if ok, err := obj.DecodeField(&ui, "status", "userInfo"); err != nil || !ok || ui.Username == "" {
		b, _ := obj.MarshalJSON()
		return userInfo{}, fmt.Errorf("no status.userInfo in the SelfSubjectReview (%v): %s", err, b)
	}
	return ui, nil
}

// mustBe fails the test unless the server takes c for username.
func mustBe(t *testing.T, c *k8sapi.Client, username string) userInfo {
	t.Helper()
	ui, err := whoami(context.Background(), c)
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	if ui.Username != username {
		t.Fatalf("the server takes the client for %q (groups %v), want %q", ui.Username, ui.Groups, username)
	}
	return ui
}

// saUser is the user name of a ServiceAccount of the test namespace.
func saUser(name string) string {
	return "system:serviceaccount:" + cluster.Namespace + ":" + name
}

// leaseRoundTrip creates a Lease named name in the test namespace with c,
// reads it back and updates it: the operations leader election makes.
func leaseRoundTrip(t *testing.T, c *k8sapi.Client, name string) {
	t.Helper()
	ctx := context.Background()
	holder := "holder-" + randomHex(4)
	obj := k8sapi.NewObject(k8sapi.Leases, cluster.Namespace, name)
	if err := obj.SetField(holder, "spec", "holderIdentity"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, k8sapi.Leases, obj); err != nil {
		t.Fatalf("create Lease %s: %v", name, err)
	}
	got, err := c.Get(ctx, k8sapi.Leases, cluster.Namespace, name)
	if err != nil {
		t.Fatalf("get Lease %s: %v", name, err)
	}
	var h string
	if _, err := got.DecodeField(&h, "spec", "holderIdentity"); err != nil || h != holder {
		t.Fatalf("Lease %s: holderIdentity %q (%v), want %q", name, h, err, holder)
	}
	if err := got.SetField(int32(7), "spec", "leaseDurationSeconds"); err != nil {
		t.Fatal(err)
	}
	upd, err := c.Update(ctx, k8sapi.Leases, got)
	if err != nil {
		t.Fatalf("update Lease %s: %v", name, err)
	}
	if upd.ResourceVersion() == got.ResourceVersion() {
		t.Fatalf("update Lease %s: resourceVersion unchanged (%s)", name, upd.ResourceVersion())
	}
}

// bindElectorRole binds the harness's Role "elector" (leader election's
// rules, in the test namespace) to a subject: kind "User" or "Group".
func bindElectorRole(ctx context.Context, kind, name string) error {
	path := "/apis/rbac.authorization.k8s.io/v1/namespaces/" + cluster.Namespace + "/rolebindings"
	code, body, err := cluster.AdminDo(ctx, http.MethodPost, path, map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"metadata": map[string]any{"generateName": "kubeconfigtest-"},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": cluster.ServiceAccount},
		"subjects": []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}},
	})
	if err != nil {
		return err
	}
	if code != http.StatusCreated {
		return fmt.Errorf("create RoleBinding for %s %s: %d %s", kind, name, code, body)
	}
	return nil
}

// adminCreate POSTs obj as the admin and decodes the answer into out.
func adminCreate(ctx context.Context, path string, obj, out any) error {
	code, body, err := cluster.AdminDo(ctx, http.MethodPost, path, obj)
	if err != nil {
		return err
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", path, code, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// secretBoundToken makes a Secret and a token of the elector
// ServiceAccount bound to it: deleting the Secret revokes the token. It
// returns the token and a func that deletes the Secret.
func secretBoundToken(t *testing.T) (token string, revoke func()) {
	t.Helper()
	ctx := context.Background()
	ns := "/api/v1/namespaces/" + cluster.Namespace
	var secret struct {
		Metadata struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"metadata"`
	}
	if err := adminCreate(ctx, ns+"/secrets", map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"generateName": "kubeconfigtest-bound-"},
	}, &secret); err != nil {
		t.Fatal(err)
	}
	var tr struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	if err := adminCreate(ctx, ns+"/serviceaccounts/"+cluster.ServiceAccount+"/token", map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
		"spec": map[string]any{
			"expirationSeconds": 3600,
			"boundObjectRef":    map[string]any{"apiVersion": "v1", "kind": "Secret", "name": secret.Metadata.Name, "uid": secret.Metadata.UID},
		},
	}, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Status.Token == "" {
		t.Fatal("TokenRequest: no token")
	}
	return tr.Status.Token, func() {
		t.Helper()
		code, body, err := cluster.AdminDo(ctx, http.MethodDelete, ns+"/secrets/"+secret.Metadata.Name, nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("delete Secret %s: %d %s %v", secret.Metadata.Name, code, body, err)
		}
	}
}

// newSAToken is a fresh token of the elector ServiceAccount.
func newSAToken(t *testing.T) string {
	t.Helper()
	tok, err := cluster.NewToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// writeFile writes b to dir/name and returns the path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// bogusToken is a token the server does not know.
func bogusToken() string { return "kubeconfigtest-bogus-" + randomHex(16) }
