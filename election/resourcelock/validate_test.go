package resourcelock_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// A lock built as a struct literal without a Client (issue 9 §6: it
// crashed the process with a nil dereference in the elector's goroutine)
// fails every call with an error wrapping ErrInvalidLock, and Validate says
// so before any call; RecordEvent does nothing. So do nil lock pointers
// and a MultiLock without its locks.
func TestLockWithoutClient(t *testing.T) {
	meta := rl.ObjectMeta{Namespace: ns, Name: "lock"}
	events := &recorder{}
	cfg := rl.ResourceLockConfig{Identity: "a", EventRecorder: events}
	for _, tc := range []struct {
		name string
		lock interface {
			rl.Interface
			rl.Validator
		}
		want string
	}{
		{"Lease", &rl.LeaseLock{LeaseMeta: meta, LockConfig: cfg}, "Lease lock team-a/lock: no client"},
		{"Endpoints", &rl.EndpointsLock{EndpointsMeta: meta, LockConfig: cfg}, "Endpoints lock team-a/lock: no client"},
		{"ConfigMap", &rl.ConfigMapLock{ConfigMapMeta: meta, LockConfig: cfg}, "ConfigMap lock team-a/lock: no client"},
		{"MultiLock of clientless locks", &rl.MultiLock{
			Primary:   &rl.EndpointsLock{EndpointsMeta: meta, LockConfig: cfg},
			Secondary: &rl.LeaseLock{LeaseMeta: meta, LockConfig: cfg},
		}, "Endpoints lock team-a/lock: no client"},
		{"empty MultiLock", &rl.MultiLock{}, "both Primary and Secondary must be set"},
		{"nil *LeaseLock", (*rl.LeaseLock)(nil), "nil lock"},
		{"nil *EndpointsLock", (*rl.EndpointsLock)(nil), "nil lock"},
		{"nil *ConfigMapLock", (*rl.ConfigMapLock)(nil), "nil lock"},
		{"nil *MultiLock", (*rl.MultiLock)(nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			check := func(call string, err error) {
				t.Helper()
				if !errors.Is(err, rl.ErrInvalidLock) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s = %v, want an ErrInvalidLock saying %q", call, err, tc.want)
				}
			}
			if err := tc.lock.Validate(); !errors.Is(err, rl.ErrInvalidLock) {
				t.Errorf("Validate = %v, want ErrInvalidLock", err)
			}
			rec, raw, err := tc.lock.Get(ctx)
			check("Get", err)
			if rec != nil || raw != nil {
				t.Errorf("Get = %+v, %q; want nothing", rec, raw)
			}
			check("Create", tc.lock.Create(ctx, record("a", 0, time.Now())))
			check("Update", tc.lock.Update(ctx, record("a", 0, time.Now())))
			if w, ok := tc.lock.(rl.RecordWatcher); ok {
				check("WatchRecord", w.WatchRecord(ctx, func(*rl.LeaderElectionRecord, []byte) { t.Error("observe called") }))
			}
			tc.lock.RecordEvent("became leader") // must not panic
			_, _ = tc.lock.Describe(), tc.lock.Identity()
		})
	}
	// The recorder was the locks' own: clientless locks still report
	// events (the recorder decides what to do with them).
	if len(events.events) == 0 {
		t.Error("no event recorded by a lock without a client")
	}
}

// An event recorder built without a client drops its events instead of
// panicking in its goroutine.
func TestEventRecorderWithoutClient(t *testing.T) {
	r := rl.NewEventRecorder(nil, "c", "h")
	r.Eventf(rl.ObjectReference{Kind: "Lease", Namespace: ns, Name: "lock"}, "Normal", "LeaderElection", "%s", "a became leader")
	r.Close()
}

// Validate accepts a complete struct-literal lock and names what is wrong
// with an incomplete one; a MultiLock's two locks must have one identity.
func TestValidate(t *testing.T) {
	client := testapiserver.New(testapiserver.Options{}).Client()
	meta := rl.ObjectMeta{Namespace: ns, Name: "lock"}
	cfg := rl.ResourceLockConfig{Identity: "a"}
	good := []rl.Validator{
		&rl.LeaseLock{LeaseMeta: meta, Client: client, LockConfig: cfg},
		&rl.EndpointsLock{EndpointsMeta: meta, Client: client, LockConfig: cfg},
		&rl.ConfigMapLock{ConfigMapMeta: meta, Client: client, LockConfig: cfg},
		&rl.MultiLock{Primary: &rl.EndpointsLock{EndpointsMeta: meta, Client: client, LockConfig: cfg},
			Secondary: &rl.LeaseLock{LeaseMeta: meta, Client: client, LockConfig: cfg}},
	}
	for _, v := range good {
		if err := v.Validate(); err != nil {
			t.Errorf("%T.Validate() = %v", v, err)
		}
	}
	for _, kind := range []string{rl.LeasesResourceLock, rl.EndpointsResourceLock, rl.ConfigMapsResourceLock,
		rl.EndpointsLeasesResourceLock, rl.ConfigMapsLeasesResourceLock} {
		l, err := rl.New(kind, ns, "lock", client, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := l.(rl.Validator); !ok || v.Validate() != nil {
			t.Errorf("lock of kind %s from New: Validator %v", kind, ok)
		}
	}
	for _, tc := range []struct {
		lock     rl.Validator
		want     string
		badName  bool
		problems int
	}{
		{&rl.LeaseLock{Client: client, LockConfig: cfg}, `namespace "": must not be empty; k8sapi: invalid name: object name ""`, true, 2},
		{&rl.LeaseLock{LeaseMeta: rl.ObjectMeta{Namespace: ns, Name: "a/b"}, Client: client, LockConfig: cfg}, `object name "a/b"`, true, 1},
		{&rl.EndpointsLock{EndpointsMeta: meta, Client: client}, "identity is empty", false, 1},
		{&rl.ConfigMapLock{ConfigMapMeta: meta, Client: client, LockConfig: rl.ResourceLockConfig{Identity: "a", Labels: map[string]string{"x": "-"}}},
			`label "x": value "-"`, false, 1},
		{&rl.MultiLock{Primary: &rl.EndpointsLock{EndpointsMeta: meta, Client: client, LockConfig: cfg},
			Secondary: &rl.LeaseLock{LeaseMeta: meta, Client: client, LockConfig: rl.ResourceLockConfig{Identity: "b"}}},
			`the identities differ: "a" (Primary) and "b" (Secondary)`, false, 1},
		{&rl.MultiLock{Primary: &rl.EndpointsLock{EndpointsMeta: meta, Client: client, LockConfig: cfg},
			Secondary: &rl.LeaseLock{LeaseMeta: rl.ObjectMeta{Namespace: ns, Name: "UPPER"}, Client: client, LockConfig: cfg}},
			`Secondary: resourcelock: invalid lock: Lease lock team-a/UPPER: k8sapi: invalid name`, true, 1},
		{&rl.MultiLock{Primary: &rl.EndpointsLock{EndpointsMeta: meta, Client: client, LockConfig: cfg}}, "Secondary is nil", false, 1},
	} {
		err := tc.lock.Validate()
		if !errors.Is(err, rl.ErrInvalidLock) || errors.Is(err, k8sapi.ErrInvalidName) != tc.badName ||
			err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), ";")+1 != tc.problems {
			t.Errorf("%T.Validate() = %v; want an ErrInvalidLock saying %q (ErrInvalidName %v, %d problems)", tc.lock, err, tc.want, tc.badName, tc.problems)
		}
	}
}
