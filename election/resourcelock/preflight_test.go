package resourcelock_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

const preflightNS = "apps"

// preflightLock makes a lock of kind on srv, with an event recorder when
// events is set, and counts the access reviews the server gets.
func preflightLock(t *testing.T, srv *testapiserver.Server, kind string, events bool) (rl.Interface, func() int) {
	t.Helper()
	var mu sync.Mutex
	reviews := 0
	srv.SetHook(func(r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/selfsubjectaccessreviews") {
			mu.Lock()
			reviews++
			mu.Unlock()
		}
	})
	client := srv.Client()
	cfg := rl.ResourceLockConfig{Identity: "a"}
	if events {
		rec := rl.NewEventRecorder(client, "test", "")
		t.Cleanup(rec.Close)
		cfg.EventRecorder = rec
	}
	lock, err := rl.New(kind, preflightNS, "my-lock", client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return lock, func() int { mu.Lock(); defer mu.Unlock(); return reviews }
}

func preflightPerm(verb string, r k8sapi.Resource, name string) rl.Permission {
	return rl.Permission{Verb: verb, Resource: r, Namespace: preflightNS, Name: name}
}

var (
	preflightLeases = testapiserver.Permission{Group: "coordination.k8s.io", Resource: "leases"}
	preflightEvents = testapiserver.Permission{Group: "", Resource: "events"}
)

func preflightDeny(p testapiserver.Permission, verb string) testapiserver.Permission {
	p.Verb = verb
	return p
}

func TestCheckAccess(t *testing.T) {
	tests := []struct {
		name    string
		kind    string
		events  bool
		deny    []testapiserver.Permission
		reviews int
		missing []rl.Permission
	}{
		{"leases, all allowed", rl.LeasesResourceLock, false, nil, 4, nil},
		{"leases and events, all allowed", rl.LeasesResourceLock, true, nil, 5, nil},
		{"leases without watch and update", rl.LeasesResourceLock, false,
			[]testapiserver.Permission{preflightDeny(preflightLeases, "watch"), preflightDeny(preflightLeases, "update")}, 4,
			[]rl.Permission{preflightPerm("update", k8sapi.Leases, "my-lock"), preflightPerm("watch", k8sapi.Leases, "my-lock")}},
		{"leases without events", rl.LeasesResourceLock, true,
			[]testapiserver.Permission{preflightDeny(preflightEvents, "create")}, 5,
			[]rl.Permission{preflightPerm("create", k8sapi.Events, "")}},
		{"events not asked without a recorder", rl.LeasesResourceLock, false,
			[]testapiserver.Permission{preflightDeny(preflightEvents, "create")}, 4, nil},
		{"create has no name", rl.ConfigMapsResourceLock, false,
			[]testapiserver.Permission{{Verb: "create", Group: "", Resource: "configmaps"}}, 4,
			[]rl.Permission{preflightPerm("create", k8sapi.ConfigMaps, "")}},
		{"multilock: both objects, events once", rl.EndpointsLeasesResourceLock, true,
			[]testapiserver.Permission{{Verb: "get", Group: "", Resource: "endpoints"}, preflightDeny(preflightLeases, "watch"), preflightDeny(preflightEvents, "create")}, 9,
			[]rl.Permission{preflightPerm("get", k8sapi.Endpoints, "my-lock"), preflightPerm("create", k8sapi.Events, ""), preflightPerm("watch", k8sapi.Leases, "my-lock")}},
		{"nothing allowed", rl.LeasesResourceLock, true, []testapiserver.Permission{{Verb: "*", Group: "*", Resource: "*"}}, 5,
			[]rl.Permission{preflightPerm("get", k8sapi.Leases, "my-lock"), preflightPerm("create", k8sapi.Leases, ""), preflightPerm("update", k8sapi.Leases, "my-lock"),
				preflightPerm("watch", k8sapi.Leases, "my-lock"), preflightPerm("create", k8sapi.Events, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testapiserver.New(testapiserver.Options{Deny: tt.deny})
			lock, reviews := preflightLock(t, srv, tt.kind, tt.events)
			err := rl.CheckAccess(context.Background(), lock)
			if n := reviews(); n != tt.reviews {
				t.Errorf("%d access reviews, want %d", n, tt.reviews)
			}
			if tt.missing == nil {
				if err != nil {
					t.Errorf("CheckAccess = %v, want nil", err)
				}
				return
			}
			var ae *rl.AccessError
			if !errors.As(err, &ae) || !errors.Is(err, rl.ErrAccessDenied) {
				t.Fatalf("CheckAccess = %v, want an *AccessError wrapping ErrAccessDenied", err)
			}
			if diff := cmp.Diff(tt.missing, ae.Missing); diff != "" {
				t.Errorf("Missing (-want +got):\n%s", diff)
			}
			if ae.Lock != lock.Describe() {
				t.Errorf("Lock = %q, want %q", ae.Lock, lock.Describe())
			}
			for _, p := range tt.missing {
				if !strings.Contains(err.Error(), p.Verb) || !strings.Contains(err.Error(), p.Resource.Resource) {
					t.Errorf("the error does not name %s: %v", p, err)
				}
			}
		})
	}
}

// The error groups the verbs missing on each object.
func TestAccessErrorText(t *testing.T) {
	err := &rl.AccessError{Lock: "apps/my-lock", Missing: []rl.Permission{
		preflightPerm("update", k8sapi.Leases, "my-lock"), preflightPerm("watch", k8sapi.Leases, "my-lock"), preflightPerm("create", k8sapi.Events, ""),
	}}
	want := `resourcelock: lock apps/my-lock: the API server denies: update, watch leases.coordination.k8s.io "my-lock" in namespace "apps"; create events in namespace "apps"`
	if err.Error() != want {
		t.Errorf("Error() = %s\nwant      %s", err, want)
	}
}

// What CheckAccess finds denied, the lock's requests then get: 403.
func TestCheckAccessAgreesWithRequests(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{Deny: []testapiserver.Permission{preflightDeny(preflightLeases, "update")}})
	lock, _ := preflightLock(t, srv, rl.LeasesResourceLock, false)
	ctx := context.Background()
	var ae *rl.AccessError
	if err := rl.CheckAccess(ctx, lock); !errors.As(err, &ae) || len(ae.Missing) != 1 || ae.Missing[0].Verb != "update" {
		t.Fatalf("CheckAccess = %v, want update missing", err)
	}
	if err := lock.Create(ctx, rl.LeaderElectionRecord{HolderIdentity: "a", LeaseDurationSeconds: 15}); err != nil {
		t.Fatalf("create, allowed: %v", err)
	}
	if err := lock.Update(ctx, rl.LeaderElectionRecord{HolderIdentity: "a", LeaseDurationSeconds: 15}); !k8sapi.IsForbidden(err) {
		t.Errorf("update, denied: %v, want Forbidden", err)
	}
	srv.SetDeny()
	if err := rl.CheckAccess(ctx, lock); err != nil {
		t.Errorf("CheckAccess after SetDeny() = %v, want nil", err)
	}
}

// preflightOtherLock is a lock of a type CheckAccess does not know.
type preflightOtherLock struct{ rl.Interface }

func (preflightOtherLock) Describe() string { return "other" }

func TestCheckAccessErrors(t *testing.T) {
	ctx := context.Background()
	srv := testapiserver.New(testapiserver.Options{})
	lock, _ := preflightLock(t, srv, rl.LeasesResourceLock, false)

	// A review that fails is no denial: its error comes back.
	srv.FailNext(1, http.StatusInternalServerError)
	err := rl.CheckAccess(ctx, lock)
	var se *k8sapi.StatusError
	if !errors.As(err, &se) || se.Code != 500 || errors.Is(err, rl.ErrAccessDenied) {
		t.Errorf("CheckAccess with a failing review = %v, want the 500, not ErrAccessDenied", err)
	}

	if err := rl.CheckAccess(ctx, preflightOtherLock{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("CheckAccess(unknown lock type) = %v, want ErrUnsupported", err)
	}
	// A lock without a client fails before any request, without a panic.
	noClient := &rl.LeaseLock{LeaseMeta: rl.ObjectMeta{Namespace: preflightNS, Name: "l"}, LockConfig: rl.ResourceLockConfig{Identity: "a"}}
	if err := rl.CheckAccess(ctx, noClient); !errors.Is(err, rl.ErrInvalidLock) {
		t.Errorf("CheckAccess(no client) = %v, want ErrInvalidLock", err)
	}
	if err := rl.CheckAccess(ctx, &rl.MultiLock{Primary: lock}); !errors.Is(err, rl.ErrInvalidLock) {
		t.Errorf("CheckAccess(MultiLock without Secondary) = %v, want ErrInvalidLock", err)
	}
	if err := rl.CheckAccess(ctx, nil); !errors.Is(err, rl.ErrInvalidLock) {
		t.Errorf("CheckAccess(nil) = %v, want ErrInvalidLock", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := rl.CheckAccess(cancelled, lock); !errors.Is(err, context.Canceled) {
		t.Errorf("CheckAccess(cancelled) = %v, want context.Canceled", err)
	}
}

// Check the Role before standing: a program whose Role lacks watch and
// update on Leases learns it at start, not from a 403 in the middle of an
// election. (The in-process server here denies them as such a Role would.)
func ExampleCheckAccess() {
	srv := testapiserver.New(testapiserver.Options{Deny: []testapiserver.Permission{
		{Verb: "watch", Group: "coordination.k8s.io", Resource: "leases"},
		{Verb: "update", Group: "coordination.k8s.io", Resource: "leases"},
	}})
	client := srv.Client()
	lock, err := rl.New(rl.LeasesResourceLock, "default", "my-controller", client, rl.ResourceLockConfig{Identity: "pod-1"})
	if err != nil {
		panic(err)
	}
	err = rl.CheckAccess(context.Background(), lock)
	var denied *rl.AccessError
	if errors.As(err, &denied) {
		for _, p := range denied.Missing {
			fmt.Println("missing:", p)
		}
	}
	fmt.Println(errors.Is(err, rl.ErrAccessDenied))
	// Output:
	// missing: update leases.coordination.k8s.io "my-controller" in namespace "default"
	// missing: watch leases.coordination.k8s.io "my-controller" in namespace "default"
	// true
}
