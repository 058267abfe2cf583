package realapi

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// allowList is the in-process server's Allow list for a Role of rules.
func allowList(rules []harness.Rule) []testapiserver.Permission {
	var allow []testapiserver.Permission
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					allow = append(allow, testapiserver.Permission{Verb: v, Group: g, Resource: res})
				}
			}
		}
	}
	return allow
}

// missing is what CheckAccess finds denied: nil when nothing is.
func missing(t *testing.T, lock rl.Interface) []rl.Permission {
	t.Helper()
	err := rl.CheckAccess(context.Background(), lock)
	if err == nil {
		return nil
	}
	var ae *rl.AccessError
	if !errors.As(err, &ae) || !errors.Is(err, rl.ErrAccessDenied) {
		t.Fatalf("CheckAccess = %v, want nil or an *AccessError", err)
	}
	return ae.Missing
}

// A ServiceAccount whose Role lacks some verbs: CheckAccess names exactly
// those, the lock's requests then get 403 for them and not for the
// others, and the in-process server, given the same Role as its Allow
// list, finds the same.
func TestCheckAccess(t *testing.T) {
	c := need(t)
	ctx := context.Background()
	ns := c.Namespace
	name := uniqueName(t)
	perm := func(verb string, r k8sapi.Resource, name string) rl.Permission {
		return rl.Permission{Verb: verb, Resource: r, Namespace: ns, Name: name}
	}
	partial := []harness.Rule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create", "update", "watch"}},
	}
	partialClient, _ := serviceAccountClient(t, "preflight-partial", partial)

	srv := testapiserver.New(testapiserver.Options{Allow: allowList(partial)})
	inProcess := srv.Client()
	for _, tc := range []struct {
		name   string
		kind   string
		events bool
		want   []rl.Permission
	}{
		{"lease", rl.LeasesResourceLock, false,
			[]rl.Permission{perm("update", k8sapi.Leases, name), perm("watch", k8sapi.Leases, name)}},
		{"lease with events", rl.LeasesResourceLock, true,
			[]rl.Permission{perm("update", k8sapi.Leases, name), perm("watch", k8sapi.Leases, name), perm("create", k8sapi.Events, "")}},
		{"configmap", rl.ConfigMapsResourceLock, false, nil},
		{"configmapsleases", rl.ConfigMapsLeasesResourceLock, true,
			[]rl.Permission{perm("create", k8sapi.Events, ""), perm("update", k8sapi.Leases, name), perm("watch", k8sapi.Leases, name)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, server := range []struct {
				name   string
				client *k8sapi.Client
			}{{"kube-apiserver", partialClient}, {"in-process", inProcess}} {
				cfg := rl.ResourceLockConfig{Identity: "a"}
				if tc.events {
					rec := rl.NewEventRecorder(server.client, "preflight", "")
					defer rec.Close()
					cfg.EventRecorder = rec
				}
				lock, err := rl.New(tc.kind, ns, name, server.client, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, missing(t, lock)); diff != "" {
					t.Errorf("%s: missing (-want +got):\n%s", server.name, diff)
				}
			}
		})
	}

	// The lock's own requests agree: get and create pass, update and
	// watch are forbidden.
	lock := &rl.LeaseLock{LeaseMeta: rl.ObjectMeta{Namespace: ns, Name: name}, Client: partialClient,
		LockConfig: rl.ResourceLockConfig{Identity: "a"}}
	rec := rl.LeaderElectionRecord{HolderIdentity: "a", LeaseDurationSeconds: 15}
	if err := lock.Create(ctx, rec); err != nil {
		t.Fatalf("create, allowed: %v", err)
	}
	if _, _, err := lock.Get(ctx); err != nil {
		t.Errorf("get, allowed: %v", err)
	}
	if err := lock.Update(ctx, rec); !k8sapi.IsForbidden(err) {
		t.Errorf("update, denied: %v, want Forbidden", err)
	}
	if _, err := partialClient.Watch(ctx, k8sapi.Leases, ns, name, k8sapi.WatchOptions{}); !k8sapi.IsForbidden(err) {
		t.Errorf("watch, denied: %v, want Forbidden", err)
	}

	// The harness's elector, whose Role is what the README asks for, may
	// do everything, on every kind of lock.
	full := inClusterClient(t, nil)
	for _, kind := range []string{rl.LeasesResourceLock, rl.EndpointsLeasesResourceLock, rl.ConfigMapsLeasesResourceLock} {
		events := rl.NewEventRecorder(full, "preflight", "")
		defer events.Close()
		lock, err := rl.New(kind, ns, name, full, rl.ResourceLockConfig{Identity: "a", EventRecorder: events})
		if err != nil {
			t.Fatal(err)
		}
		if err := rl.CheckAccess(ctx, lock); err != nil {
			t.Errorf("%s lock with the full Role: %v", kind, err)
		}
	}
}

// A client whose token the server does not accept gets the 401, not a
// list of denials: the review itself failed.
func TestCheckAccessUnauthorized(t *testing.T) {
	c := need(t)
	client, err := k8sapi.New(k8sapi.Config{Host: c.Host, CAFile: c.CAFile, BearerToken: "not-a-valid-token"})
	if err != nil {
		t.Fatal(err)
	}
	lock, err := rl.New(rl.LeasesResourceLock, c.Namespace, "l", client, rl.ResourceLockConfig{Identity: "a"})
	if err != nil {
		t.Fatal(err)
	}
	err = rl.CheckAccess(context.Background(), lock)
	if !k8sapi.IsUnauthorized(err) || errors.Is(err, rl.ErrAccessDenied) {
		t.Errorf("CheckAccess with an invalid token = %v, want Unauthorized", err)
	}
}
