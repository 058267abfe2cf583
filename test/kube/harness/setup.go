package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
)

// Rule is one RBAC policy rule.
type Rule struct {
	APIGroups []string `json:"apiGroups"`
	Resources []string `json:"resources"`
	Verbs     []string `json:"verbs"`
}

// ElectionRules is what a leader-elected program needs: get, create,
// update and watch on the three lock kinds, create on events.
var ElectionRules = []Rule{
	{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update", "watch"}},
	{APIGroups: []string{""}, Resources: []string{"endpoints", "configmaps"}, Verbs: []string{"get", "create", "update", "watch"}},
	{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
}

// setUp makes the test namespace, the elector ServiceAccount and its
// service-account directory.
func (c *Cluster) setUp(ctx context.Context) error {
	c.Namespace = "kubelect-" + randomToken()[:8]
	if err := c.CreateNamespace(ctx, c.Namespace); err != nil {
		return err
	}
	token, err := c.CreateServiceAccount(ctx, c.Namespace, c.ServiceAccount, ElectionRules)
	if err != nil {
		return err
	}
	c.ServiceAccountDir = c.path("serviceaccount")
	if err := os.MkdirAll(c.ServiceAccountDir, 0o700); err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	for name, b := range map[string][]byte{"token": []byte(token), "ca.crt": ca, "namespace": []byte(c.Namespace)} {
		if err := os.WriteFile(filepath.Join(c.ServiceAccountDir, name), b, 0o600); err != nil {
			return fmt.Errorf("harness: %w", err)
		}
	}
	return nil
}

// create POSTs obj to path as the admin; 409 AlreadyExists is fine.
func (c *Cluster) create(ctx context.Context, path string, obj any) ([]byte, error) {
	code, body, err := c.AdminDo(ctx, http.MethodPost, path, obj)
	if err != nil {
		return nil, err
	}
	if code != http.StatusCreated && code != http.StatusOK && code != http.StatusConflict {
		return nil, fmt.Errorf("harness: POST %s: %d %s", path, code, body)
	}
	return body, nil
}

// CreateNamespace makes a namespace.
func (c *Cluster) CreateNamespace(ctx context.Context, name string) error {
	_, err := c.create(ctx, "/api/v1/namespaces", map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name},
	})
	return err
}

// CreateServiceAccount makes a ServiceAccount in namespace with a Role of
// rules bound to it, and returns a token for it.
func (c *Cluster) CreateServiceAccount(ctx context.Context, namespace, name string, rules []Rule) (string, error) {
	ns := "/api/v1/namespaces/" + namespace
	rbac := "/apis/rbac.authorization.k8s.io/v1/namespaces/" + namespace
	for _, step := range []struct {
		path string
		obj  any
	}{
		{ns + "/serviceaccounts", map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": name}}},
		{rbac + "/roles", map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
			"metadata": map[string]any{"name": name}, "rules": rules}},
		{rbac + "/rolebindings", roleBinding(namespace, name)},
	} {
		if _, err := c.create(ctx, step.path, step.obj); err != nil {
			return "", err
		}
	}
	return c.Token(ctx, namespace, name)
}

// Token gets a fresh token for a ServiceAccount through the TokenRequest
// API, valid for an hour.
func (c *Cluster) Token(ctx context.Context, namespace, name string) (string, error) {
	path := "/api/v1/namespaces/" + namespace + "/serviceaccounts/" + name + "/token"
	body, err := c.create(ctx, path, map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
		"spec": map[string]any{"expirationSeconds": 3600},
	})
	if err != nil {
		return "", err
	}
	var tr struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.Status.Token == "" {
		return "", fmt.Errorf("harness: TokenRequest for %s/%s: no token in the answer (%v)", namespace, name, err)
	}
	return tr.Status.Token, nil
}

// NewToken gets a fresh token for the elector ServiceAccount.
func (c *Cluster) NewToken(ctx context.Context) (string, error) {
	return c.Token(ctx, c.Namespace, c.ServiceAccount)
}

// Env is the environment a pod would have: KUBERNETES_SERVICE_HOST/PORT.
func (c *Cluster) Env() map[string]string {
	return map[string]string{"KUBERNETES_SERVICE_HOST": c.ServiceHost, "KUBERNETES_SERVICE_PORT": c.ServicePort}
}

// roleBinding binds the Role name to the ServiceAccount name.
func roleBinding(namespace, name string) map[string]any {
	return map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"metadata": map[string]any{"name": name},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": name, "namespace": namespace}}}
}

// RevokeRoleBinding deletes the RoleBinding that gives the ServiceAccount
// name its Role in namespace: its requests are then forbidden.
// RestoreRoleBinding undoes it.
func (c *Cluster) RevokeRoleBinding(ctx context.Context, namespace, name string) error {
	path := "/apis/rbac.authorization.k8s.io/v1/namespaces/" + namespace + "/rolebindings/" + name
	code, body, err := c.AdminDo(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK && code != http.StatusAccepted {
		return fmt.Errorf("harness: DELETE %s: %d %s", path, code, body)
	}
	return nil
}

// RestoreRoleBinding binds the Role name to the ServiceAccount name in
// namespace again, as CreateServiceAccount did.
func (c *Cluster) RestoreRoleBinding(ctx context.Context, namespace, name string) error {
	_, err := c.create(ctx, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+namespace+"/rolebindings", roleBinding(namespace, name))
	return err
}
