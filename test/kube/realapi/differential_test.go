package realapi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// outcome is what the library reads of one answer.
func outcome(obj *k8sapi.Object, err error) string {
	var se *k8sapi.StatusError
	switch {
	case err == nil && obj == nil:
		return "ok"
	case err == nil:
		holder, _ := obj.Field("spec", "holderIdentity")
		return fmt.Sprintf("ok holder=%s rv-set=%v uid-set=%v", holder, obj.ResourceVersion() != "", obj.UID() != "")
	case errors.As(err, &se) && (se.Code == 422 || se.Code == 500):
		return fmt.Sprintf("%d %s: %s", se.Code, se.Reason, se.Message)
	case errors.As(err, &se):
		return fmt.Sprintf("%d %s", se.Code, se.Reason)
	}
	return "error " + err.Error()
}

// script runs one sequence of requests and returns what each answered.
func script(t *testing.T, client *k8sapi.Client, ns, name string) []string {
	ctx := context.Background()
	var out []string
	note := func(step string, obj *k8sapi.Object, err error) {
		out = append(out, step+": "+outcome(obj, err))
	}
	lease := func(holder, rv string) *k8sapi.Object {
		return leaseNamed(ns, name, holder, rv)
	}
	obj, err := client.Get(ctx, k8sapi.Leases, ns, name)
	note("get missing", obj, err)
	obj, err = client.Update(ctx, k8sapi.Leases, leaseNamed(ns, name+"-other", "a", "1"))
	note("update missing with rv", obj, err)

	created, err := client.Create(ctx, k8sapi.Leases, lease("a", ""))
	note("create", created, err)
	obj, err = client.Create(ctx, k8sapi.Leases, lease("a", ""))
	note("create again", obj, err)
	obj, err = client.Get(ctx, k8sapi.Leases, ns, name)
	note("get", obj, err)
	if created == nil {
		t.Fatalf("create failed:\n%s", joinLines(out))
	}
	upd := created.DeepCopy()
	_ = upd.SetField("b", "spec", "holderIdentity")
	updated, err := client.Update(ctx, k8sapi.Leases, upd)
	note("update", updated, err)
	obj, err = client.Update(ctx, k8sapi.Leases, upd)
	note("update stale", obj, err)
	same, err := client.Update(ctx, k8sapi.Leases, updated)
	note("update unchanged", same, err)
	obj, err = client.Update(ctx, k8sapi.Leases, lease("d", ""))
	note("update without rv", obj, err)
	out = append(out, fmt.Sprintf("unchanged update keeps rv: %v", same != nil && updated != nil && same.ResourceVersion() == updated.ResourceVersion()))

	w, err := client.Watch(ctx, k8sapi.Leases, ns, name, k8sapi.WatchOptions{ResourceVersion: created.ResourceVersion()})
	note("watch from create", nil, err)
	if err == nil {
		e, err := w.Next()
		note("watch event "+string(e.Type), e.Object, err)
		w.Close()
	}
	w, err = client.Watch(ctx, k8sapi.Leases, ns, name, k8sapi.WatchOptions{})
	note("watch current", nil, err)
	if err == nil {
		e, err := w.Next()
		note("watch event "+string(e.Type), e.Object, err)
		w.Close()
	}
	note("delete", nil, client.Delete(ctx, k8sapi.Leases, ns, name))
	note("delete again", nil, client.Delete(ctx, k8sapi.Leases, ns, name))
	if updated != nil {
		// The deleted object's uid and resourceVersion, as a lock's cached
		// object carries them: a precondition, not a create.
		obj, err = client.Update(ctx, k8sapi.Leases, updated)
		note("update deleted with its uid", obj, err)
	}
	obj, err = client.Update(ctx, k8sapi.Leases, lease("c", ""))
	note("update missing without rv", obj, err)
	cm := k8sapi.NewObject(k8sapi.ConfigMaps, ns, name)
	obj, err = client.Update(ctx, k8sapi.ConfigMaps, cm)
	note("update missing configmap", obj, err)
	_ = cm.SetField("5", "metadata", "resourceVersion")
	obj, err = client.Create(ctx, k8sapi.ConfigMaps, cm)
	note("create with rv", obj, err)
	return out
}

func leaseNamed(ns, name, holder, rv string) *k8sapi.Object {
	o := k8sapi.NewObject(k8sapi.Leases, ns, name)
	_ = o.SetField(holder, "spec", "holderIdentity")
	if rv != "" {
		_ = o.SetField(rv, "metadata", "resourceVersion")
	}
	return o
}

// The same requests against the real server and the in-process one give
// the same codes, reasons and fields the library reads.
func TestDifferential(t *testing.T) {
	c := need(t)
	name := uniqueName(t)
	// A service account that may also delete, for the delete steps.
	client, _ := serviceAccountClient(t, "differential", []harness.Rule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update", "delete", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create", "update", "delete", "watch"}},
	})
	real := script(t, client, c.Namespace, name)

	srv := testapiserver.New(testapiserver.Options{})
	fake, err := k8sapi.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	inProcess := script(t, fake, c.Namespace, name)
	if diff := cmp.Diff(real, inProcess); diff != "" {
		t.Errorf("in-process server differs from kube-apiserver (-real +in-process):\n%s", diff)
	}
	t.Logf("real server:\n%s", joinLines(real))
}

func joinLines(lines []string) string {
	s := ""
	for _, l := range lines {
		s += "  " + l + "\n"
	}
	return s
}
