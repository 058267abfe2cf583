package resourcelock_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

const ns = "team-a"

type lockKind struct {
	kind, group, resource string
}

var kinds = []lockKind{
	{rl.LeasesResourceLock, "coordination.k8s.io", "leases"},
	{rl.EndpointsResourceLock, "", "endpoints"},
	{rl.ConfigMapsResourceLock, "", "configmaps"},
}

func newLock(t testing.TB, srv *testapiserver.Server, kind, id string) rl.Interface {
	t.Helper()
	l, err := rl.New(kind, ns, "lock", srv.Client(), rl.ResourceLockConfig{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func record(holder string, transitions int, at time.Time) rl.LeaderElectionRecord {
	return rl.LeaderElectionRecord{HolderIdentity: holder, LeaseDurationSeconds: 15,
		AcquireTime: rl.NewTime(at), RenewTime: rl.NewTime(at), LeaderTransitions: transitions}
}

// Each lock: Get on a missing object is NotFound, Create then Get round
// trips, Update carries the resourceVersion (a stale one conflicts and the
// cached object is kept), and the raw bytes change with every renewal.
func TestLockLifecycle(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			srv := testapiserver.New(testapiserver.Options{})
			a := newLock(t, srv, k.kind, "a")
			if _, _, err := a.Get(ctx); !k8sapi.IsNotFound(err) {
				t.Fatalf("Get on a missing lock = %v, want NotFound", err)
			}
			if err := a.Update(ctx, record("a", 0, at)); err == nil || !strings.Contains(err.Error(), "call Get or Create first") {
				t.Errorf("Update before Get = %v, want a clear error", err)
			}
			if err := a.Create(ctx, record("a", 0, at)); err != nil {
				t.Fatal(err)
			}
			b := newLock(t, srv, k.kind, "b")
			if err := b.Create(ctx, record("b", 0, at)); !k8sapi.IsAlreadyExists(err) {
				t.Errorf("second Create = %v, want AlreadyExists", err)
			}
			got, raw1, err := b.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(record("a", 0, at), *got, cmp.Comparer(timeEqual)); diff != "" {
				t.Errorf("record read back (-want +got):\n%s", diff)
			}
			// a renews half a second later: the raw bytes must change even
			// where the wire format keeps whole seconds (then the next
			// whole second does it).
			renewed := record("a", 0, at)
			renewed.RenewTime = rl.NewTime(at.Add(1500 * time.Millisecond))
			if err := a.Update(ctx, renewed); err != nil {
				t.Fatal(err)
			}
			_, raw2, err := b.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(raw1) == string(raw2) {
				t.Errorf("raw bytes unchanged by a renewal: %s", raw1)
			}
			// b updates over a's renewal from an older read: conflict.
			c := newLock(t, srv, k.kind, "c")
			if _, _, err := c.Get(ctx); err != nil {
				t.Fatal(err)
			}
			if err := a.Update(ctx, record("a", 0, at.Add(2*time.Second))); err != nil {
				t.Fatal(err)
			}
			if err := c.Update(ctx, record("c", 1, at)); !k8sapi.IsConflict(err) {
				t.Fatalf("Update from a stale read = %v, want Conflict", err)
			}
			// The failed update kept c's cached object: it conflicts again
			// rather than failing for want of an object; after a Get it works.
			if err := c.Update(ctx, record("c", 1, at)); !k8sapi.IsConflict(err) {
				t.Errorf("second stale Update = %v, want Conflict", err)
			}
			if _, _, err := c.Get(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Update(ctx, record("c", 1, at)); err != nil {
				t.Errorf("Update after Get: %v", err)
			}
			if got, _, _ := a.Get(ctx); got.HolderIdentity != "c" || got.LeaderTransitions != 1 {
				t.Errorf("record after c's update: %+v", got)
			}
		})
	}
}

func timeEqual(a, b rl.Time) bool { return a.Equal(b.Time) }

// An update changes the record and nothing else: subsets, data, labels,
// owner references, finalizers, other annotations, managed fields and
// fields unknown to the library survive many renewals.
func TestLockKeepsForeignFields(t *testing.T) {
	ctx := context.Background()
	foreign := map[string]string{
		"endpoints":  `"subsets":[{"addresses":[{"ip":"10.1.2.3","targetRef":{"kind":"Pod","name":"p-1"}}],"ports":[{"port":8443,"protocol":"TCP"}]}]`,
		"configmaps": `"data":{"config.yaml":"a: 1\nb: [2, 3]\n"},"binaryData":{"blob":"AAEC"},"immutable":false`,
		"leases":     `"spec":{"strategy":"OldestEmulationVersion","preferredHolder":"b","holderIdentity":"x","leaseDurationSeconds":30}`,
	}
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			srv := testapiserver.New(testapiserver.Options{})
			obj := `{"metadata":{"name":"lock","namespace":"` + ns + `",
				"labels":{"app":"x","tier":"control"},
				"annotations":{"example.com/note":"keep","other":"{\"json\": 1.50}"},
				"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"x","uid":"u-1","controller":true,"blockOwnerDeletion":true}],
				"finalizers":["example.com/f"],
				"managedFields":[{"manager":"kubectl","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{}}}]},
				"unknownTopLevel":{"n":12345678901234567890,"f":1.0e+3},` + foreign[k.resource] + `}`
			if err := srv.Put(k.group, k.resource, []byte(obj)); err != nil {
				t.Fatal(err)
			}
			before := stripRecord(t, srv, k)

			l := newLock(t, srv, k.kind, "a")
			if _, _, err := l.Get(ctx); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
			for i := 0; i < 50; i++ {
				if err := l.Update(ctx, record("a", 1, at.Add(time.Duration(i)*time.Second))); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(before, stripRecord(t, srv, k)); diff != "" {
				t.Errorf("fields the lock does not own changed (-before +after):\n%s", diff)
			}
			got, _, err := l.Get(ctx)
			if err != nil || got.HolderIdentity != "a" || !got.RenewTime.Equal(at.Add(49*time.Second)) {
				t.Errorf("record after 50 updates: %+v, %v", got, err)
			}
		})
	}
}

// stripRecord returns the stored object without the record and the
// resourceVersion, numbers kept as written.
func stripRecord(t *testing.T, srv *testapiserver.Server, k lockKind) map[string]any {
	t.Helper()
	raw, ok := srv.Get(k.group, k.resource, ns, "lock")
	if !ok {
		t.Fatal("lock object missing")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatal(err)
	}
	meta := obj["metadata"].(map[string]any)
	delete(meta, "resourceVersion")
	if ann, ok := meta["annotations"].(map[string]any); ok {
		delete(ann, rl.LeaderElectionRecordAnnotationKey)
	}
	if spec, ok := obj["spec"].(map[string]any); ok && k.resource == "leases" {
		// preferredHolder is the lock's too: each write sets or removes it
		// as its record says (TestPreferredHolder covers it).
		for _, f := range []string{"holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions", "preferredHolder"} {
			delete(spec, f)
		}
	}
	return obj
}

// The Lease lock writes MicroTime (six fractional digits, UTC) and reads
// times of any precision; the annotation locks write whole seconds.
func TestWireFormats(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 8, 0, 0, 123456789, time.FixedZone("X", 3600))
	srv := testapiserver.New(testapiserver.Options{})
	for _, k := range kinds {
		if err := newLock(t, srv, k.kind, "a").Create(ctx, record("a", 2, at)); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := srv.Get("coordination.k8s.io", "leases", ns, "lock")
	var lease struct {
		Spec map[string]any `json:"spec"`
	}
	if err := json.Unmarshal(raw, &lease); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"holderIdentity": "a", "leaseDurationSeconds": 15.0, "acquireTime": "2025-06-01T07:00:00.123456Z",
		"renewTime": "2025-06-01T07:00:00.123456Z", "leaseTransitions": 2.0}
	if diff := cmp.Diff(want, lease.Spec); diff != "" {
		t.Errorf("lease spec (-want +got):\n%s", diff)
	}
	raw, _ = srv.Get("", "endpoints", ns, "lock")
	var ep struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &ep); err != nil {
		t.Fatal(err)
	}
	wantAnn := `{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2025-06-01T07:00:00Z","renewTime":"2025-06-01T07:00:00Z","leaderTransitions":2}`
	if got := ep.Metadata.Annotations[rl.LeaderElectionRecordAnnotationKey]; got != wantAnn {
		t.Errorf("annotation = %s\nwant %s", got, wantAnn)
	}
}

// Records in annotations written by older writers (nanoseconds, null
// times) are read.
func TestAnnotationFromOldWriter(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	old := `{\"holderIdentity\":\"old\",\"leaseDurationSeconds\":15,\"acquireTime\":\"2017-01-20T10:00:00.123456789Z\",\"renewTime\":null,\"leaderTransitions\":7}`
	obj := `{"metadata":{"name":"lock","namespace":"` + ns + `","annotations":{"` + rl.LeaderElectionRecordAnnotationKey + `":"` + old + `"}}}`
	if err := srv.Put("", "endpoints", []byte(obj)); err != nil {
		t.Fatal(err)
	}
	got, _, err := newLock(t, srv, rl.EndpointsResourceLock, "a").Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.HolderIdentity != "old" || got.LeaderTransitions != 7 || !got.RenewTime.IsZero() ||
		!got.AcquireTime.Equal(time.Date(2017, 1, 20, 10, 0, 0, 123456789, time.UTC)) {
		t.Errorf("record = %+v", got)
	}
	// An object without the annotation is an unheld lock, not an error.
	if err := srv.Put("", "configmaps", []byte(`{"metadata":{"name":"lock","namespace":"`+ns+`"},"data":{"a":"b"}}`)); err != nil {
		t.Fatal(err)
	}
	got, _, err = newLock(t, srv, rl.ConfigMapsResourceLock, "a").Get(context.Background())
	if err != nil || got.HolderIdentity != "" {
		t.Errorf("ConfigMap without annotation: %+v, %v", got, err)
	}
}

func TestNew(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	client := srv.Client()
	cfg := rl.ResourceLockConfig{Identity: "a"}
	for kind, want := range map[string]string{
		rl.LeasesResourceLock: "*resourcelock.LeaseLock", rl.EndpointsResourceLock: "*resourcelock.EndpointsLock",
		rl.ConfigMapsResourceLock: "*resourcelock.ConfigMapLock", rl.EndpointsLeasesResourceLock: "*resourcelock.MultiLock",
		rl.ConfigMapsLeasesResourceLock: "*resourcelock.MultiLock",
	} {
		l, err := rl.New(kind, ns, "lock", client, cfg)
		if err != nil || typeName(l) != want || l.Identity() != "a" {
			t.Errorf("New(%q) = %s, %v", kind, typeName(l), err)
		}
	}
	for _, tc := range []struct {
		kind, ns, name string
		client         *k8sapi.Client
		id, want       string
		badName        bool // the error wraps k8sapi.ErrInvalidName too
	}{
		{"leases", "", "lock", client, "a", `namespace "": must not be empty`, true},
		{"leases", ns, "", client, "a", `object name "": must not be empty`, true},
		{"leases", ns, "lock", nil, "a", "no client", false},
		{"leases", ns, "lock", client, "", "identity is empty", false},
		{"lease", ns, "lock", client, "a", `unknown lock type "lease"`, false},
		// A '/' made the name a sub-resource path and a confusing 403.
		{"leases", ns, "a/b", client, "a", `object name "a/b": must consist of`, true},
		{"endpointsleases", ns, "Lock", client, "a", `object name "Lock"`, true},
		{"configmaps", "Team_A", "lock", client, "a", `namespace "Team_A"`, true},
		{"configmapsleases", "team.a", "lock", client, "a", `namespace "team.a"`, true},
		{"leases", ns, strings.Repeat("a", 254), client, "a", "at most 253 characters", true},
	} {
		l, err := rl.New(tc.kind, tc.ns, tc.name, tc.client, rl.ResourceLockConfig{Identity: tc.id})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, rl.ErrInvalidLock) ||
			errors.Is(err, k8sapi.ErrInvalidName) != tc.badName || l != nil {
			t.Errorf("New(%q, %q, %.20q, id %q) = %v, %v; want an ErrInvalidLock containing %q (ErrInvalidName %v)",
				tc.kind, tc.ns, tc.name, tc.id, l, err, tc.want, tc.badName)
		}
	}
	// Every problem is named at once.
	_, err := rl.New("leases", "", "", nil, rl.ResourceLockConfig{Labels: map[string]string{"a b": "c"}})
	for _, want := range []string{"namespace", "object name", "no client", "identity is empty", `label key "a b"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New with five problems = %v, want it to name %q", err, want)
		}
	}
}

func typeName(v any) string { return fmtType(v) }

// Each lock tells the precision its object stores times in: the elector
// times its renew deadline by it.
func TestTimePrecision(t *testing.T) {
	client := testapiserver.New(testapiserver.Options{}).Client()
	for kind, want := range map[string]time.Duration{
		rl.LeasesResourceLock: time.Microsecond, rl.EndpointsResourceLock: time.Second,
		rl.ConfigMapsResourceLock: time.Second, rl.EndpointsLeasesResourceLock: time.Second,
		rl.ConfigMapsLeasesResourceLock: time.Second,
	} {
		l, err := rl.New(kind, ns, "lock", client, rl.ResourceLockConfig{Identity: "a"})
		if err != nil {
			t.Fatal(err)
		}
		p, ok := l.(interface{ TimePrecision() time.Duration })
		if !ok {
			t.Fatalf("%s lock has no TimePrecision", kind)
		}
		if got := p.TimePrecision(); got != want {
			t.Errorf("TimePrecision(%s) = %v, want %v", kind, got, want)
		}
	}
	if got := (&rl.MultiLock{Primary: &rl.LeaseLock{}, Secondary: &rl.LeaseLock{}}).TimePrecision(); got != time.Microsecond {
		t.Errorf("TimePrecision(Lease+Lease) = %v, want 1µs", got)
	}
}

// MultiLock: both objects created; a secondary missing while an old-style
// candidate holds the primary reads as the primary; holders that differ
// read as UnknownLeader; an update creates a missing secondary.
func TestMultiLock(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	srv := testapiserver.New(testapiserver.Options{})
	old := newLock(t, srv, rl.EndpointsResourceLock, "old") // not migrated yet
	if err := old.Create(ctx, record("old", 3, at)); err != nil {
		t.Fatal(err)
	}
	m := newLock(t, srv, rl.EndpointsLeasesResourceLock, "new")
	got, _, err := m.Get(ctx)
	if err != nil || got.HolderIdentity != "old" || got.LeaderTransitions != 3 {
		t.Fatalf("Get with the secondary missing = %+v, %v; want the primary's record", got, err)
	}
	if err := m.Update(ctx, record("new", 4, at)); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Get("coordination.k8s.io", "leases", ns, "lock"); !ok {
		t.Fatal("Update did not create the secondary Lease")
	}
	got, _, err = m.Get(ctx)
	if err != nil || got.HolderIdentity != "new" {
		t.Fatalf("Get after update = %+v, %v", got, err)
	}
	// The old candidate overwrites the primary: the two now disagree.
	if _, _, err := old.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.Update(ctx, record("old", 5, at)); err != nil {
		t.Fatal(err)
	}
	got, raw, err := m.Get(ctx)
	if err != nil || got.HolderIdentity != rl.UnknownLeader || got.LeaderTransitions != 5 {
		t.Errorf("Get with differing holders = %+v, %v; want %s with the higher term", got, err, rl.UnknownLeader)
	}
	if !strings.Contains(string(raw), `"old"`) || !strings.Contains(string(raw), `"new"`) {
		t.Errorf("raw = %s, want both records", raw)
	}

	// A fresh pair: Create makes both.
	srv2 := testapiserver.New(testapiserver.Options{})
	m2 := newLock(t, srv2, rl.ConfigMapsLeasesResourceLock, "x")
	if err := m2.Create(ctx, record("x", 0, at)); err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{"configmaps", "leases"} {
		group := ""
		if res == "leases" {
			group = "coordination.k8s.io"
		}
		if _, ok := srv2.Get(group, res, ns, "lock"); !ok {
			t.Errorf("Create did not make the %s object", res)
		}
	}
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Eventf(obj rl.ObjectReference, eventType, reason, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, obj.Kind+" "+obj.Namespace+"/"+obj.Name+" "+eventType+" "+reason+": "+sprintf(format, args...))
}

func TestRecordEvent(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	rec := &recorder{}
	l, err := rl.New(rl.LeasesResourceLock, ns, "lock", srv.Client(), rl.ResourceLockConfig{Identity: "a", EventRecorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	l.RecordEvent("became leader")
	if diff := cmp.Diff([]string{"Lease team-a/lock Normal LeaderElection: a became leader"}, rec.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// The API recorder posts a core/v1 Event about the lock, asynchronously.
func TestAPIEventRecorder(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	client := srv.Client()
	events := rl.NewEventRecorder(client, "my-controller", "node-1")
	l, err := rl.New(rl.LeasesResourceLock, ns, "lock", client, rl.ResourceLockConfig{Identity: "a", EventRecorder: events})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Create(context.Background(), record("a", 0, time.Now())); err != nil {
		t.Fatal(err)
	}
	l.RecordEvent("became leader")
	events.Close()
	if events.Dropped() != 0 {
		t.Errorf("dropped %d events", events.Dropped())
	}
	list, err := listEvents(srv)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d events stored, want 1: %v", len(list), list)
	}
	e := list[0]
	if e["reason"] != "LeaderElection" || e["message"] != "a became leader" || e["type"] != "Normal" {
		t.Errorf("event = %v", e)
	}
	involved, _ := e["involvedObject"].(map[string]any)
	if involved["kind"] != "Lease" || involved["name"] != "lock" || involved["uid"] == "" {
		t.Errorf("involvedObject = %v", involved)
	}
}

// Issue 8, bug 5 (a): MultiLock's Update read the secondary again and wrote
// over whatever held it then, so a leases-only candidate and an
// endpointsleases one racing after a release both led. Every write is
// conditional on both objects as read.
func TestMultiLockUpdateConditionalOnBoth(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	srv := testapiserver.New(testapiserver.Options{})
	m := newLock(t, srv, rl.EndpointsLeasesResourceLock, "m")
	if err := m.Create(ctx, record("", 1, at)); err != nil { // released on both
		t.Fatal(err)
	}
	if _, _, err := m.Get(ctx); err != nil {
		t.Fatal(err)
	}
	leasesOnly := newLock(t, srv, rl.LeasesResourceLock, "l")
	if _, _, err := leasesOnly.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := leasesOnly.Update(ctx, record("l", 2, at)); err != nil {
		t.Fatal(err)
	}
	err := m.Update(ctx, record("m", 2, at))
	if !k8sapi.IsConflict(err) {
		t.Errorf("MultiLock Update over a Lease taken since its Get = %v, want a Conflict", err)
	}
	if rec, _, err := leasesOnly.Get(ctx); err != nil || rec.HolderIdentity != "l" {
		t.Errorf("Lease after the MultiLock's update = %+v, %v; want it still held by l", rec, err)
	}
	if rec, _, _ := m.Get(ctx); rec.HolderIdentity != rl.UnknownLeader {
		t.Errorf("MultiLock record with the two objects held by m and l = %+v, want %s", rec, rl.UnknownLeader)
	}
}

// An update of a Lease or Endpoints object deleted since it was read gets
// 409 from kube-apiserver, as the in-process server models it: the update
// carries the old object's uid, a precondition. A ConfigMap update gets
// 404. A server that made the update a create anyway (no uid precondition)
// gives ErrRecreated, so that the elector does not take the write for an
// update of the record it read.
func TestUpdateOfDeletedObject(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		kind, group, resource string
		createOnUpdate        bool
	}{
		{rl.LeasesResourceLock, "coordination.k8s.io", "leases", true},
		{rl.EndpointsResourceLock, "", "endpoints", true},
		{rl.ConfigMapsResourceLock, "", "configmaps", false},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			for _, withUID := range []bool{true, false} {
				srv := testapiserver.New(testapiserver.Options{})
				cfg := srv.Config()
				if !withUID {
					cfg.Transport = dropUID{cfg.Transport}
				}
				client, err := k8sapi.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				l, _ := rl.New(tc.kind, ns, "lock", client, rl.ResourceLockConfig{Identity: "a"})
				if err := l.Create(ctx, record("a", 1, at)); err != nil {
					t.Fatal(err)
				}
				srv.Delete(tc.group, tc.resource, ns, "lock")
				err = l.Update(ctx, record("a", 2, at))
				switch {
				case !tc.createOnUpdate:
					if !k8sapi.IsNotFound(err) {
						t.Errorf("uid %v: Update = %v, want NotFound", withUID, err)
					}
				case withUID:
					if !k8sapi.IsConflict(err) {
						t.Errorf("Update = %v, want a Conflict (uid precondition)", err)
					}
				default:
					if !errors.Is(err, rl.ErrRecreated) {
						t.Errorf("Update without a uid = %v, want ErrRecreated", err)
					}
				}
			}
		})
	}
}

// dropUID removes metadata.uid from the bodies of updates, as a client
// without uid preconditions would send them.
type dropUID struct{ next http.RoundTripper }

func (d dropUID) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPut || r.Body == nil {
		return d.next.RoundTrip(r)
	}
	var obj map[string]any
	if err := json.NewDecoder(r.Body).Decode(&obj); err != nil {
		return nil, err
	}
	r.Body.Close()
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "uid")
	}
	b, _ := json.Marshal(obj)
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	return d.next.RoundTrip(r)
}
