package deploytest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// collection is the path to POST an object of o's kind to in namespace.
func collection(t *testing.T, o object, namespace string) string {
	t.Helper()
	resources := map[string]string{
		"v1/ServiceAccount":                        "serviceaccounts",
		"rbac.authorization.k8s.io/v1/Role":        "roles",
		"rbac.authorization.k8s.io/v1/RoleBinding": "rolebindings",
		"apps/v1/Deployment":                       "deployments",
		"v1/Service":                               "services",
	}
	r, ok := resources[o.APIVersion+"/"+o.Kind]
	if !ok {
		t.Fatalf("%s: %s %s: no collection known to this test", o, o.APIVersion, o.Kind)
	}
	prefix := "/apis/" + o.APIVersion
	if o.APIVersion == "v1" {
		prefix = "/api/v1"
	}
	return prefix + "/namespaces/" + namespace + "/" + r
}

// adminRequest sends body (JSON) as the cluster admin and returns the
// status code, the headers and the body; the harness's AdminDo has no
// headers.
func adminRequest(ctx context.Context, t *testing.T, method, path string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	c := need(t)
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, method, c.Host+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// restrictNamespace makes namespace enforce, and warn on, the "restricted"
// Pod Security level (latest), so that a Deployment whose pods it would
// refuse gets a Warning on its create.
func restrictNamespace(ctx context.Context, t *testing.T, namespace string) {
	t.Helper()
	path := "/api/v1/namespaces/" + namespace
	code, _, b := adminRequest(ctx, t, http.MethodGet, path, nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, b)
	}
	var ns map[string]any
	if err := json.Unmarshal(b, &ns); err != nil {
		t.Fatal(err)
	}
	meta := ns["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	for _, mode := range []string{"enforce", "warn", "audit"} {
		labels["pod-security.kubernetes.io/"+mode] = "restricted"
		labels["pod-security.kubernetes.io/"+mode+"-version"] = "latest"
	}
	meta["labels"] = labels
	b, _ = json.Marshal(ns)
	if code, _, b := adminRequest(ctx, t, http.MethodPut, path, b); code != http.StatusOK {
		t.Fatalf("PUT %s: %d %s", path, code, b)
	}
}

// dryRun creates o with ?dryRun=All and returns the Warning headers, or
// fails the test when the server refuses it.
func dryRun(ctx context.Context, t *testing.T, o object, raw []byte, namespace string) []string {
	t.Helper()
	path := collection(t, o, namespace) + "?dryRun=All&fieldValidation=Strict"
	code, h, b := adminRequest(ctx, t, http.MethodPost, path, raw)
	if code != http.StatusCreated {
		t.Errorf("%s: dry-run create: %d %s", o, code, b)
	}
	return h.Values("Warning")
}

// TestServerSideDryRun sends every object to kube-apiserver with
// ?dryRun=All (all admission and validation, nothing stored) and strict
// field validation, in a namespace that enforces the "restricted" Pod
// Security level: each must be accepted without a Warning.
func TestServerSideDryRun(t *testing.T) {
	c := need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	namespace := "deploy-dryrun"
	if err := c.CreateNamespace(ctx, namespace); err != nil {
		t.Fatal(err)
	}
	restrictNamespace(ctx, t, namespace)
	objs, _ := loadManifests(t)
	if want := 4*len(patterns) + len(labelsPod); len(objs) != want {
		t.Errorf("%d objects, want %d (4 in each of %d folders, and a Service in %d)", len(objs), want, len(patterns), len(labelsPod))
	}
	var deployment []byte
	for _, o := range objs {
		if w := dryRun(ctx, t, o, o.raw, namespace); len(w) > 0 {
			t.Errorf("%s: warnings: %q", o, w)
		}
		if o.Kind == "Deployment" && o.file == "wrapper/deployment.yaml" {
			deployment = o.raw
		}
		// Nothing was stored.
		path := collection(t, o, namespace) + "/" + o.Metadata.Name
		if code, _, _ := adminRequest(ctx, t, http.MethodGet, path, nil); code != http.StatusNotFound {
			t.Errorf("%s: GET after the dry run: %d, want 404", o, code)
		}
	}

	// The check can fail: the same Deployment without the container's
	// allowPrivilegeEscalation: false, and with an unknown field, gets
	// warnings from Pod Security admission and from field validation
	// (Warn instead of Strict, so that it is not refused).
	var d map[string]any
	if err := json.Unmarshal(deployment, &d); err != nil {
		t.Fatal(err)
	}
	cont := d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	delete(cont["securityContext"].(map[string]any), "allowPrivilegeEscalation")
	cont["livenessProbes"] = cont["livenessProbe"] // a typo
	bad, _ := json.Marshal(d)
	path := collection(t, object{APIVersion: "apps/v1", Kind: "Deployment"}, namespace) + "?dryRun=All&fieldValidation=Warn"
	code, h, b := adminRequest(ctx, t, http.MethodPost, path, bad)
	w := strings.Join(h.Values("Warning"), "\n")
	if code != http.StatusCreated || !strings.Contains(w, "allowPrivilegeEscalation") || !strings.Contains(w, "livenessProbes") {
		t.Errorf("a Deployment that breaks the restricted level, with a typo: %d %s, warnings %q; want both warned of", code, b, w)
	}
}

// saClient is a client authenticated as the ServiceAccount name.
func saClient(ctx context.Context, t *testing.T, name string) (*k8sapi.Client, string) {
	t.Helper()
	c := need(t)
	token, err := c.Token(ctx, c.Namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	client, err := k8sapi.New(k8sapi.Config{Host: c.Host, BearerToken: token, CAFile: c.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	return client, token
}

// createRBAC creates p's ServiceAccount, Role and RoleBinding in the test
// namespace for real.
func createRBAC(ctx context.Context, t *testing.T, p *pattern) {
	t.Helper()
	c := need(t)
	for _, o := range p.objs {
		if o.Kind == "Deployment" {
			continue
		}
		code, _, b := adminRequest(ctx, t, http.MethodPost, collection(t, o, c.Namespace), o.raw)
		if code != http.StatusCreated && code != http.StatusConflict {
			t.Fatalf("%s: create: %d %s", o, code, b)
		}
	}
}

// leaseLock is a Lease lock named name in the test namespace.
func leaseLock(t *testing.T, client *k8sapi.Client, name string) rl.Interface {
	t.Helper()
	lock, err := rl.New(rl.LeasesResourceLock, need(t).Namespace, name, client, rl.ResourceLockConfig{Identity: "deploytest"})
	if err != nil {
		t.Fatal(err)
	}
	return lock
}

// TestRoleGrantsExactlyWhatIsNeeded creates each pattern's RBAC objects and,
// as its ServiceAccount, checks that resourcelock.CheckAccess passes for
// the Lease the program uses, and that requests beyond it are denied, by
// access review and by making them.
func TestRoleGrantsExactlyWhatIsNeeded(t *testing.T) {
	c := need(t)
	for _, p := range loadPatterns(t) {
		t.Run(p.dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			createRBAC(ctx, t, p)
			client, token := saClient(ctx, t, p.name)

			// RBAC's caches follow the new objects within moments.
			var err error
			for deadline := time.Now().Add(10 * time.Second); ; {
				if err = rl.CheckAccess(ctx, leaseLock(t, client, p.name)); err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("CheckAccess as %s: %v", p.name, err)
			}

			// Another Lease's name: only create (which RBAC cannot restrict).
			var ae *rl.AccessError
			err = rl.CheckAccess(ctx, leaseLock(t, client, "someone-elses-lease"))
			if !errors.As(err, &ae) {
				t.Fatalf("CheckAccess of another Lease: %v, want an AccessError", err)
			}
			var missing []string
			for _, m := range ae.Missing {
				missing = append(missing, m.Verb)
			}
			if strings.Join(missing, ",") != "get,update,watch" {
				t.Errorf("another Lease: denied %v, want get, update and watch", missing)
			}

			leases := k8sapi.Leases
			ns := c.Namespace
			pods := k8sapi.Pods
			denied := []k8sapi.ResourceAttributes{
				{Verb: "list", Resource: leases, Namespace: ns},
				{Verb: "watch", Resource: leases, Namespace: ns},
				{Verb: "delete", Resource: leases, Namespace: ns, Name: p.name},
				{Verb: "patch", Resource: leases, Namespace: ns, Name: p.name},
				{Verb: "deletecollection", Resource: leases, Namespace: ns},
				{Verb: "get", Resource: leases, Namespace: "kube-system", Name: p.name},
				{Verb: "create", Resource: leases, Namespace: "kube-system"},
				{Verb: "create", Resource: k8sapi.Events, Namespace: ns},
				{Verb: "create", Resource: k8sapi.Resource{Group: "events.k8s.io", Resource: "events"}, Namespace: ns},
				{Verb: "get", Resource: k8sapi.Resource{Resource: "secrets"}, Namespace: ns},
				{Verb: "list", Resource: k8sapi.Resource{Resource: "secrets"}, Namespace: ns},
				{Verb: "get", Resource: k8sapi.ConfigMaps, Namespace: ns, Name: p.name},
				{Verb: "get", Resource: k8sapi.Endpoints, Namespace: ns, Name: p.name},
				{Verb: "create", Resource: pods, Namespace: ns},
				{Verb: "list", Resource: pods, Namespace: ns},
				{Verb: "watch", Resource: pods, Namespace: ns},
				{Verb: "get", Resource: pods, Namespace: ns, Name: "any-pod"},
				{Verb: "update", Resource: pods, Namespace: ns, Name: "any-pod"},
				{Verb: "delete", Resource: pods, Namespace: ns, Name: "any-pod"},
				{Verb: "patch", Resource: k8sapi.Resource{Resource: "pods/status"}, Namespace: ns, Name: "any-pod"},
				{Verb: "patch", Resource: pods, Namespace: "kube-system", Name: "any-pod"},
				{Verb: "patch", Resource: k8sapi.Resource{Resource: "services"}, Namespace: ns, Name: p.name},
				{Verb: "create", Resource: k8sapi.Resource{Resource: "serviceaccounts/token"}, Namespace: ns},
				{Verb: "update", Resource: k8sapi.Resource{Group: "rbac.authorization.k8s.io", Resource: "roles"}, Namespace: ns, Name: p.name},
			}
			// --label-pod patches the pods of the Deployment, whose names
			// no Role can know: any pod of the namespace. Nothing more.
			patchPods := k8sapi.ResourceAttributes{Verb: "patch", Resource: pods, Namespace: ns, Name: "any-pod"}
			if !labelsPod[p.dir] {
				denied = append(denied, patchPods)
			} else if d, err := client.AccessReview(ctx, patchPods); err != nil || !d.Allowed {
				t.Errorf("patch of a pod: %+v %v, want allowed (--label-pod)", d, err)
			}
			for _, a := range denied {
				d, err := client.AccessReview(ctx, a)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					t.Errorf("allowed: %s %s/%s %q in %q", a.Verb, a.Resource.Group, a.Resource.Resource, a.Name, a.Namespace)
				}
			}
			if labelsPod[p.dir] {
				checkPodPatch(ctx, t, client, p)
			}

			// The requests themselves. The Lease may not exist yet: create
			// it (the create rule), then watch and update it by name.
			lock := leaseLock(t, client, p.name)
			now := rl.NewTime(time.Now())
			if err := lock.Create(ctx, rl.LeaderElectionRecord{HolderIdentity: "deploytest", LeaseDurationSeconds: 1, AcquireTime: now, RenewTime: now}); err != nil && !k8sapi.IsAlreadyExists(err) {
				t.Fatalf("create the Lease as %s: %v", p.name, err)
			}
			w, err := client.Watch(ctx, leases, ns, p.name, k8sapi.WatchOptions{})
			if err != nil {
				t.Fatalf("watch of the Lease by name (fieldSelector metadata.name) as %s: %v", p.name, err)
			}
			if ev, err := w.Next(); err != nil || ev.Type != k8sapi.Added {
				t.Errorf("the watch's first event: %v, %v; want ADDED", ev, err)
			}
			w.Close()
			if _, err := client.Watch(ctx, leases, ns, "someone-elses-lease", k8sapi.WatchOptions{}); !k8sapi.IsForbidden(err) {
				t.Errorf("watch of another Lease: %v, want 403", err)
			}
			if _, err := client.Get(ctx, leases, ns, "someone-elses-lease"); !k8sapi.IsForbidden(err) {
				t.Errorf("get of another Lease: %v, want 403", err)
			}
			for _, path := range []string{
				"/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases",
				"/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases?watch=1",
				"/api/v1/namespaces/" + ns + "/secrets",
			} {
				if code, b, err := c.Do(ctx, token, http.MethodGet, path, nil); err != nil || code != http.StatusForbidden {
					t.Errorf("GET %s as %s: %d %s %v, want 403", path, p.name, code, b, err)
				}
			}
			if code, b, err := c.Do(ctx, token, http.MethodDelete, "/apis/coordination.k8s.io/v1/namespaces/"+ns+"/leases/"+p.name, nil); err != nil || code != http.StatusForbidden {
				t.Errorf("DELETE the Lease as %s: %d %s %v, want 403", p.name, code, b, err)
			}
			// Leave no Lease for the run of the program.
			if code, b, err := c.AdminDo(ctx, http.MethodDelete, "/apis/coordination.k8s.io/v1/namespaces/"+ns+"/leases/"+p.name, nil); err != nil || code != http.StatusOK {
				t.Fatalf("DELETE the Lease as admin: %d %s %v", code, b, err)
			}
		})
	}
}

// testPod creates, as the admin, a pod named name in the test namespace
// for ServiceAccount sa: no kubelet runs it (it stays Pending), but it
// carries labels as any pod does.
func testPod(ctx context.Context, t *testing.T, name, sa string) {
	t.Helper()
	c := need(t)
	pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": name},
		"spec": map[string]any{"serviceAccountName": sa, "automountServiceAccountToken": false,
			"containers": []any{map[string]any{"name": "c", "image": "busybox"}}}}
	if code, b, err := c.AdminDo(ctx, http.MethodPost, "/api/v1/namespaces/"+c.Namespace+"/pods", pod); err != nil || code != http.StatusCreated {
		t.Fatalf("create the pod %s: %d %s %v", name, code, b, err)
	}
}

// podLeaderLabel is the pod's leader label as the admin reads it.
func podLeaderLabel(ctx context.Context, t *testing.T, name string) (string, error) {
	t.Helper()
	c := need(t)
	code, b, err := c.AdminDo(ctx, http.MethodGet, "/api/v1/namespaces/"+c.Namespace+"/pods/"+name, nil)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET pod %s: %d %s", name, code, b)
	}
	var pod struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(b, &pod); err != nil {
		return "", err
	}
	return pod.Metadata.Labels["kubelect.io/leader"], nil
}

// checkPodPatch makes the requests --label-pod makes, as the pattern's
// ServiceAccount, on a pod of the namespace: a JSON Patch that only tests
// (the read), a merge patch that labels, and a conditional removal; a GET
// of the pod is forbidden.
func checkPodPatch(ctx context.Context, t *testing.T, client *k8sapi.Client, p *pattern) {
	t.Helper()
	c := need(t)
	name := p.name + "-rbac-check"
	testPod(ctx, t, name, p.name)
	label := `/metadata/labels/kubelect.io~1leader`
	for _, step := range []struct {
		pt    k8sapi.PatchType
		patch string
	}{
		{k8sapi.MergePatch, `{"metadata":{"labels":{"kubelect.io/leader":"` + p.name + `"}}}`},
		{k8sapi.JSONPatch, `[{"op":"test","path":"` + label + `","value":"` + p.name + `"}]`},
		{k8sapi.JSONPatch, `[{"op":"test","path":"` + label + `","value":"` + p.name + `"},{"op":"remove","path":"` + label + `"}]`},
	} {
		if _, err := client.Patch(ctx, k8sapi.Pods, c.Namespace, name, step.pt, []byte(step.patch)); err != nil {
			t.Errorf("PATCH the pod (%s) as %s: %v", step.patch, p.name, err)
		}
	}
	if l, err := podLeaderLabel(ctx, t, name); err != nil || l != "" {
		t.Errorf("after the removal the pod's label is %q (%v), want none", l, err)
	}
	if _, err := client.Get(ctx, k8sapi.Pods, c.Namespace, name); !k8sapi.IsForbidden(err) {
		t.Errorf("GET the pod as %s: %v, want 403", p.name, err)
	}
}

// leaseHolder is the Lease's holder as the admin reads it; "" when
// released, an error when it does not exist.
func leaseHolder(ctx context.Context, t *testing.T, name string) (string, error) {
	t.Helper()
	c := need(t)
	code, b, err := c.AdminDo(ctx, http.MethodGet, "/apis/coordination.k8s.io/v1/namespaces/"+c.Namespace+"/leases/"+name, nil)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET Lease %s: %d %s", name, code, b)
	}
	var l struct {
		Spec struct {
			HolderIdentity *string `json:"holderIdentity"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return "", err
	}
	if l.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *l.Spec.HolderIdentity, nil
}
