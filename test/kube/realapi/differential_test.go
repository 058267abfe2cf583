package realapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
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
		return statusOutcome(obj, err)
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
	fake := srv.Client()
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

// statusOutcome is everything of a Status answer a caller can read: code,
// reason, message and details with their causes.
func statusOutcome(obj *k8sapi.Object, err error) string {
	var se *k8sapi.StatusError
	switch {
	case err == nil && obj == nil:
		return "ok"
	case err == nil:
		return fmt.Sprintf("ok %q", obj.Name())
	case errors.Is(err, k8sapi.ErrInvalidName):
		return "refused by the client (ErrInvalidName)"
	case !errors.As(err, &se):
		return "error " + err.Error()
	}
	s := fmt.Sprintf("%d %s: %s", se.Code, se.Reason, se.Message)
	if d := se.Details; d != nil {
		s += fmt.Sprintf("\n      details name=%q group=%q kind=%q", d.Name, d.Group, d.Kind)
		for _, c := range d.Causes {
			s += fmt.Sprintf("\n      cause %s %s: %s", c.Type, c.Field, c.Message)
		}
	}
	return s
}

// invalidNameScript creates, updates, reads and watches objects under
// names and in namespaces that kube-apiserver refuses, and returns what
// each request answered, in full.
func invalidNameScript(t *testing.T, client *k8sapi.Client, ns string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	note := func(step string, obj *k8sapi.Object, err error) {
		out = append(out, step+": "+statusOutcome(obj, err))
	}
	long, longUpper := strings.Repeat("a", 254), strings.Repeat("A", 254)
	for _, tc := range []struct {
		r         k8sapi.Resource
		namespace string
		name      string
	}{
		{k8sapi.Leases, ns, "Upper"},
		{k8sapi.Leases, ns, "my_lock"},
		{k8sapi.Leases, ns, long},
		{k8sapi.Leases, ns, longUpper},
		{k8sapi.Leases, ns, "a..b"},
		{k8sapi.Leases, ns, "-a"},
		{k8sapi.Leases, ns, "é"},
		{k8sapi.Leases, ns, "a/b"},
		{k8sapi.Leases, ns, "."},
		{k8sapi.Leases, ns, ""},
		{k8sapi.ConfigMaps, ns, "Upper"},
		{k8sapi.ConfigMaps, ns, long},
		{k8sapi.Endpoints, ns, "my_lock"},
		{k8sapi.Leases, "a.b", "Upper"},
		{k8sapi.ConfigMaps, "my_ns", "x"},
		{k8sapi.Endpoints, strings.Repeat("n", 64), "x"},
	} {
		step := fmt.Sprintf("create %s %q in %q", tc.r.Resource, short(tc.name), short(tc.namespace))
		obj, err := client.Create(ctx, tc.r, k8sapi.NewObject(tc.r, tc.namespace, tc.name))
		note(step, obj, err)
	}
	for _, tc := range []struct {
		r         k8sapi.Resource
		namespace string
		name, rv  string
	}{
		{k8sapi.Leases, ns, "Upper", ""}, // an update that creates
		{k8sapi.Leases, ns, long, "5"},
		{k8sapi.Endpoints, ns, "my_lock", ""},
		{k8sapi.ConfigMaps, ns, "Upper", ""}, // no create on update: 404
		{k8sapi.Endpoints, "a.b", "x", ""},
		{k8sapi.ConfigMaps, "a.b", "x", ""},
		{k8sapi.Leases, ns, "a/b", ""},
	} {
		o := k8sapi.NewObject(tc.r, tc.namespace, tc.name)
		if tc.rv != "" {
			_ = o.SetField(tc.rv, "metadata", "resourceVersion")
		}
		obj, err := client.Update(ctx, tc.r, o)
		note(fmt.Sprintf("update %s %q in %q (rv %q)", tc.r.Resource, short(tc.name), short(tc.namespace), tc.rv), obj, err)
	}
	for _, tc := range [][2]string{{ns, "Upper"}, {ns, long}, {"a.b", "x"}, {ns, "a/b"}, {ns, ".."}} {
		obj, err := client.Get(ctx, k8sapi.Leases, tc[0], tc[1])
		note(fmt.Sprintf("get leases %q in %q", short(tc[1]), tc[0]), obj, err)
	}
	// A watch of an invalid name opens and shows nothing until the
	// server's timeout ends it.
	for _, tc := range [][2]string{{ns, "Upper"}, {"a.b", "x"}} {
		step := fmt.Sprintf("watch leases %q in %q", tc[1], tc[0])
		w, err := client.Watch(ctx, k8sapi.Leases, tc[0], tc[1], k8sapi.WatchOptions{TimeoutSeconds: 1})
		if err != nil {
			note(step, nil, err)
			continue
		}
		e, err := w.Next()
		w.Close()
		switch {
		case errors.Is(err, io.EOF):
			out = append(out, step+": no event")
		case err != nil:
			note(step, nil, err)
		default:
			out = append(out, fmt.Sprintf("%s: event %s", step, e.Type))
		}
	}
	return out
}

func short(s string) string {
	if len(s) > 12 {
		return fmt.Sprintf("%s...(%d)", s[:8], len(s))
	}
	return s
}

// adminClient is a client with the cluster admin's token: the in-process
// server, which allows everything, stands for it (a ServiceAccount would
// be forbidden in namespaces other than its own before any name check).
func adminClient(t *testing.T, c *harness.Cluster) *k8sapi.Client {
	t.Helper()
	client, err := k8sapi.New(k8sapi.Config{Host: c.Host, CAFile: c.CAFile, BearerToken: c.AdminToken, WarningHandler: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// Invalid names and namespaces get the same answers from the in-process
// server as from kube-apiserver: code, reason, message and every cause.
func TestDifferentialInvalidNames(t *testing.T) {
	c := need(t)
	real := invalidNameScript(t, adminClient(t, c), c.Namespace)
	srv := testapiserver.New(testapiserver.Options{})
	fake := srv.Client()
	inProcess := invalidNameScript(t, fake, c.Namespace)
	if diff := cmp.Diff(real, inProcess); diff != "" {
		t.Errorf("in-process server differs from kube-apiserver (-real +in-process):\n%s", diff)
	}
	t.Logf("real server:\n%s", joinLines(real))
}
