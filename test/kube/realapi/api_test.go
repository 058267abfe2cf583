package realapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// The real server's Status answers decode into the right errors: 404
// NotFound, 409 AlreadyExists on create, 409 Conflict on a stale update.
func TestStatusErrors(t *testing.T) {
	c := need(t)
	ctx := context.Background()
	client := inClusterClient(t, nil)
	name := uniqueName(t)
	_, err := client.Get(ctx, k8sapi.Leases, c.Namespace, name)
	var se *k8sapi.StatusError
	if !k8sapi.IsNotFound(err) || !errors.As(err, &se) || se.Reason != "NotFound" || se.Details == nil || se.Details.Name != name {
		t.Errorf("Get missing: %#v", err)
	}
	obj, err := client.Create(ctx, k8sapi.Leases, k8sapi.NewObject(k8sapi.Leases, c.Namespace, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Create(ctx, k8sapi.Leases, k8sapi.NewObject(k8sapi.Leases, c.Namespace, name)); !k8sapi.IsAlreadyExists(err) || k8sapi.IsConflict(err) {
		t.Errorf("second Create: %v, want AlreadyExists only", err)
	}
	upd := obj.DeepCopy()
	_ = upd.SetField("x", "spec", "holderIdentity")
	if _, err := client.Update(ctx, k8sapi.Leases, upd); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Update(ctx, k8sapi.Leases, upd); !k8sapi.IsConflict(err) || k8sapi.IsAlreadyExists(err) ||
		!strings.Contains(err.Error(), "the object has been modified") {
		t.Errorf("stale Update: %v, want Conflict", err)
	}
}

// Fields the lock does not own survive 30 renewals on a real server: an
// Endpoints object's subsets, labels and other annotations, a ConfigMap's
// data.
func TestFieldsPreserved(t *testing.T) {
	c := need(t)
	ctx := context.Background()
	for _, tc := range []struct {
		kind, path string
		body       map[string]any
	}{
		{rl.EndpointsResourceLock, "/api/v1/namespaces/%s/endpoints", map[string]any{
			"subsets": []any{map[string]any{"addresses": []any{map[string]any{"ip": "10.0.0.7"}},
				"ports": []any{map[string]any{"name": "http", "port": 8080, "protocol": "TCP"}}}}}},
		{rl.ConfigMapsResourceLock, "/api/v1/namespaces/%s/configmaps", map[string]any{
			"data": map[string]any{"config.yaml": "a: 1\n", "b": "2"}}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			name := uniqueName(t)
			obj := map[string]any{"metadata": map[string]any{"name": name,
				"labels":      map[string]any{"app": "demo"},
				"annotations": map[string]any{"example.com/owner": "team-a"}}}
			for k, v := range tc.body {
				obj[k] = v
			}
			path := strings.Replace(tc.path, "%s", c.Namespace, 1)
			if code, body, err := c.AdminDo(ctx, http.MethodPost, path, obj); err != nil || code != http.StatusCreated {
				t.Fatalf("create: %d %s %v", code, body, err)
			}
			before := foreign(t, c, path+"/"+name)
			lock, err := rl.New(tc.kind, c.Namespace, name, inClusterClient(t, nil), rl.ResourceLockConfig{Identity: "a"})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := lock.Get(ctx); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for i := 0; i < 30; i++ {
				at := rl.NewTime(now.Add(time.Duration(i) * time.Second))
				if err := lock.Update(ctx, rl.LeaderElectionRecord{HolderIdentity: "a", LeaseDurationSeconds: 4, AcquireTime: at, RenewTime: at}); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(before, foreign(t, c, path+"/"+name)); diff != "" {
				t.Errorf("fields not owned by the lock changed (-before +after):\n%s", diff)
			}
		})
	}
}

// foreign is the object without what a lock write changes: the record,
// resourceVersion and managedFields (the server's bookkeeping of writers).
func foreign(t *testing.T, c *harness.Cluster, path string) map[string]any {
	t.Helper()
	code, body, err := c.AdminDo(context.Background(), http.MethodGet, path, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", path, code, body, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatal(err)
	}
	meta := obj["metadata"].(map[string]any)
	delete(meta, "resourceVersion")
	delete(meta, "managedFields")
	if ann, ok := meta["annotations"].(map[string]any); ok {
		delete(ann, rl.LeaderElectionRecordAnnotationKey)
	}
	return obj
}

// The v1.33+ deprecation warning arrives on every Endpoints answer; the
// client reports it once.
func TestEndpointsWarningOnce(t *testing.T) {
	c := need(t)
	cfg, err := k8sapi.InClusterConfigFromDir(c.ServiceAccountDir)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var warnings []string
	cfg.WarningHandler = func(text string) { mu.Lock(); warnings = append(warnings, text); mu.Unlock() }
	client, err := k8sapi.New(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := client.Get(context.Background(), k8sapi.Endpoints, c.Namespace, "none"); !k8sapi.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "v1 Endpoints is deprecated") {
		t.Errorf("warnings = %q, want the deprecation warning once", warnings)
	}
}

// A Role without the lock's resource gives a clear 403.
func TestForbidden(t *testing.T) {
	c := need(t)
	ctx := context.Background()
	client, token := serviceAccountClient(t, "no-leases", []harness.Rule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}},
	})
	lock, _ := rl.New(rl.LeasesResourceLock, c.Namespace, "l", client, rl.ResourceLockConfig{Identity: "a"})
	_, _, err := lock.Get(ctx)
	want := `leases.coordination.k8s.io "l" is forbidden: User "system:serviceaccount:` + c.Namespace + `:no-leases" cannot get resource "leases" in API group "coordination.k8s.io"`
	if !k8sapi.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("Get without permission: %v\nwant it to say %s", err, want)
	}
	if strings.Contains(err.Error(), token) {
		t.Error("the error contains the token")
	}
}

// A token file that holds an invalid token, then a fresh one from the
// TokenRequest API: the client recovers without a restart (a 401 makes it
// read the file again at once).
func TestTokenRotation(t *testing.T) {
	c := need(t)
	ctx := context.Background()
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "namespace"} {
		b, err := os.ReadFile(filepath.Join(c.ServiceAccountDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("not-a-valid-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := k8sapi.InClusterConfigFromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	client, err := k8sapi.New(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get(ctx, k8sapi.Leases, c.Namespace, "none"); !k8sapi.IsUnauthorized(err) {
		t.Fatalf("with an invalid token: %v, want Unauthorized", err)
	}
	fresh, err := c.NewToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte(fresh), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get(ctx, k8sapi.Leases, c.Namespace, "none"); !k8sapi.IsNotFound(err) {
		t.Errorf("after the token file was rotated: %v, want NotFound", err)
	}
}
