package resourcelock_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

const leases = "coordination.k8s.io"

// leaseState is what a stored Lease says about a transfer.
type leaseState struct {
	Annotation      *string // PreferredHolderAnnotationKey
	PreferredHolder *string // spec.preferredHolder
	Strategy        *string // spec.strategy
	RV              string
}

func storedLease(t *testing.T, srv *testapiserver.Server) leaseState {
	t.Helper()
	raw, ok := srv.Get(leases, "leases", ns, "lock")
	if !ok {
		t.Fatal("no Lease")
	}
	var obj struct {
		Metadata struct {
			Annotations     map[string]string `json:"annotations"`
			ResourceVersion string            `json:"resourceVersion"`
		} `json:"metadata"`
		Spec struct {
			PreferredHolder *string `json:"preferredHolder"`
			Strategy        *string `json:"strategy"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	st := leaseState{PreferredHolder: obj.Spec.PreferredHolder, Strategy: obj.Spec.Strategy, RV: obj.Metadata.ResourceVersion}
	if v, ok := obj.Metadata.Annotations[rl.PreferredHolderAnnotationKey]; ok {
		st.Annotation = &v
	}
	return st
}

func ptr(s string) *string { return &s }

// putLease stores a Lease held by "a" with the given metadata fields and
// extra spec fields (JSON members, may be empty).
func putLease(t *testing.T, srv *testapiserver.Server, annotations map[string]string, specExtra string) {
	t.Helper()
	ann, _ := json.Marshal(annotations)
	spec := `{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2025-06-01T08:00:00.000000Z","renewTime":"2025-06-01T08:00:00.000000Z","leaseTransitions":1`
	if specExtra != "" {
		spec += "," + specExtra
	}
	doc := `{"metadata":{"name":"lock","namespace":"` + ns + `","annotations":` + string(ann) + `},"spec":` + spec + `}}`
	if err := srv.Put(leases, "leases", []byte(doc)); err != nil {
		t.Fatal(err)
	}
}

// The Lease lock reads the preferred holder from its annotation, else from
// spec.preferredHolder, and spec.strategy into Strategy; a field of another
// type reads as absent instead of making the record undecodable.
func TestLeasePreferredHolderDecode(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		annotations             map[string]string
		spec                    string
		wantHolder, wantStrateg string
	}{
		{"none", nil, "", "", ""},
		{"annotation", map[string]string{rl.PreferredHolderAnnotationKey: "b"}, "", "b", ""},
		{"spec", nil, `"strategy":"OldestEmulationVersion","preferredHolder":"c"`, "c", "OldestEmulationVersion"},
		{"annotation first", map[string]string{rl.PreferredHolderAnnotationKey: "b"}, `"strategy":"OldestEmulationVersion","preferredHolder":"c"`, "b", "OldestEmulationVersion"},
		{"empty annotation", map[string]string{rl.PreferredHolderAnnotationKey: ""}, `"strategy":"x.io/s","preferredHolder":"c"`, "c", "x.io/s"},
		{"not strings", nil, `"strategy":5,"preferredHolder":{"a":1}`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testapiserver.New(testapiserver.Options{})
			putLease(t, srv, tc.annotations, tc.spec)
			rec, _, err := newLock(t, srv, rl.LeasesResourceLock, "x").Get(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rec.PreferredHolder != tc.wantHolder || rec.Strategy != tc.wantStrateg || rec.HolderIdentity != "a" || rec.LeaderTransitions != 1 {
				t.Errorf("record = %+v, want preferred holder %q, strategy %q", rec, tc.wantHolder, tc.wantStrateg)
			}
		})
	}
}

// The Lease lock writes the record's PreferredHolder: the annotation, and
// spec.preferredHolder only where the Lease has a strategy (kube-apiserver
// with the CoordinatedLeaderElection gate refuses it without one); an
// empty PreferredHolder removes both. spec.strategy is never written and
// survives every update; what is written reads back.
func TestLeasePreferredHolderEncode(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	withHolder := func(holder string, sec int) rl.LeaderElectionRecord {
		r := record("a", 1, at.Add(time.Duration(sec)*time.Second))
		r.PreferredHolder = holder
		r.Strategy = "ignored-by-the-lock"
		return r
	}
	readBack := func(t *testing.T, l rl.Interface, want string) {
		t.Helper()
		rec, _, err := l.Get(ctx)
		if err != nil || rec.PreferredHolder != want {
			t.Errorf("read back: %+v, %v; want preferred holder %q", rec, err, want)
		}
	}

	t.Run("no strategy", func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		l := newLock(t, srv, rl.LeasesResourceLock, "a")
		if err := l.Create(ctx, withHolder("b", 0)); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(leaseState{Annotation: ptr("b")}, storedLease(t, srv), cmp.FilterPath(isRV, cmp.Ignore())); diff != "" {
			t.Errorf("after Create (-want +got):\n%s", diff)
		}
		readBack(t, l, "b")
		if err := l.Update(ctx, withHolder("", 1)); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(leaseState{}, storedLease(t, srv), cmp.FilterPath(isRV, cmp.Ignore())); diff != "" {
			t.Errorf("after an Update without a preferred holder (-want +got):\n%s", diff)
		}
		readBack(t, l, "")
	})

	t.Run("strategy", func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		putLease(t, srv, map[string]string{"example.com/x": "kept"}, `"strategy":"OldestEmulationVersion"`)
		l := newLock(t, srv, rl.LeasesResourceLock, "a")
		if _, _, err := l.Get(ctx); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			holder string
			want   leaseState
		}{
			{"c", leaseState{Annotation: ptr("c"), PreferredHolder: ptr("c"), Strategy: ptr("OldestEmulationVersion")}},
			{"d", leaseState{Annotation: ptr("d"), PreferredHolder: ptr("d"), Strategy: ptr("OldestEmulationVersion")}},
			{"", leaseState{Strategy: ptr("OldestEmulationVersion")}},
			{"", leaseState{Strategy: ptr("OldestEmulationVersion")}},
		}
		for i, step := range steps {
			if err := l.Update(ctx, withHolder(step.holder, i+1)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(step.want, storedLease(t, srv), cmp.FilterPath(isRV, cmp.Ignore())); diff != "" {
				t.Errorf("step %d, preferred holder %q (-want +got):\n%s", i, step.holder, diff)
			}
			readBack(t, l, step.holder)
		}
		if _, ann := storedMeta(t, srv, leases, "leases"); ann["example.com/x"] != "kept" {
			t.Errorf("other annotations = %v", ann)
		}
		if rec, _, _ := l.Get(ctx); rec.Strategy != "OldestEmulationVersion" {
			t.Errorf("Strategy = %q after the updates", rec.Strategy)
		}
	})

	// A spec.preferredHolder without a strategy (left by a server whose
	// gate was turned off) is removed: the gated server refuses it.
	t.Run("stale spec field", func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		putLease(t, srv, nil, `"preferredHolder":"c"`)
		l := newLock(t, srv, rl.LeasesResourceLock, "a")
		if rec, _, err := l.Get(ctx); err != nil || rec.PreferredHolder != "c" {
			t.Fatalf("Get = %+v, %v", rec, err)
		}
		if err := l.Update(ctx, withHolder("c", 1)); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(leaseState{Annotation: ptr("c")}, storedLease(t, srv), cmp.FilterPath(isRV, cmp.Ignore())); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		readBack(t, l, "c")
	})
}

func isRV(p cmp.Path) bool { return p.String() == "RV" }

// A transfer request is no renewal: it changes the annotation only, so the
// raw bytes that followers time the lease by stay the same, through Get
// and through the watch, while the record they decode names the preferred
// holder. The leader's next renewal conflicts, and after a read it sees
// the request.
func TestTransferRequestIsNoRenewal(t *testing.T) {
	ctx := context.Background()
	srv := testapiserver.New(testapiserver.Options{})
	client := srv.Client()
	leader := newLock(t, srv, rl.LeasesResourceLock, "a")
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	if err := leader.Create(ctx, record("a", 1, at)); err != nil {
		t.Fatal(err)
	}
	follower := newLock(t, srv, rl.LeasesResourceLock, "b")
	_, before, err := follower.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The follower watches from where its Get left off.
	type seen struct {
		rec *rl.LeaderElectionRecord
		raw []byte
	}
	events := make(chan seen, 10)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = follower.(rl.RecordWatcher).WatchRecord(wctx, func(rec *rl.LeaderElectionRecord, raw []byte) {
			events <- seen{rec, append([]byte(nil), raw...)}
		})
	}()
	defer func() { cancel(); wg.Wait() }()
	// The watch starts with the current state.
	select {
	case e := <-events:
		if string(e.raw) != string(before) || e.rec.PreferredHolder != "" {
			t.Fatalf("watch started with %+v %s, want the record read", e.rec, e.raw)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not start")
	}

	if err := rl.RequestTransfer(ctx, client, ns, "lock", "b"); err != nil {
		t.Fatal(err)
	}
	rec, after, err := follower.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("raw bytes changed by a transfer request:\n%s\n%s", before, after)
	}
	if rec.PreferredHolder != "b" || rec.HolderIdentity != "a" {
		t.Errorf("record after the request = %+v, want a's, preferring b", rec)
	}
	select {
	case e := <-events:
		if string(e.raw) != string(before) || e.rec == nil || e.rec.PreferredHolder != "b" {
			t.Errorf("watch saw %+v %s, want the same bytes with preferred holder b", e.rec, e.raw)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not see the request")
	}

	// The leader's renewal from its cached object conflicts; it reads the
	// request.
	if err := leader.Update(ctx, record("a", 1, at.Add(time.Second))); !k8sapi.IsConflict(err) {
		t.Fatalf("renewal over the request = %v, want a Conflict", err)
	}
	if rec, _, err := leader.Get(ctx); err != nil || rec.PreferredHolder != "b" {
		t.Errorf("leader reads %+v, %v; want preferred holder b", rec, err)
	}
}

// RequestTransfer writes conditionally: a write that conflicts is read and
// tried again, up to five times, and what the others wrote is kept.
func TestRequestTransferRetriesConflicts(t *testing.T) {
	for _, tc := range []struct {
		conflicts int
		wantErr   bool
	}{{0, false}, {1, false}, {4, false}, {5, true}, {100, true}} {
		srv := testapiserver.New(testapiserver.Options{})
		putLease(t, srv, map[string]string{"n": "0"}, `"strategy":"OldestEmulationVersion"`)
		var puts, bumps atomic.Int32
		srv.SetHook(func(r *http.Request) {
			if r.Method != http.MethodPut {
				return
			}
			puts.Add(1)
			if int(bumps.Load()) >= tc.conflicts {
				return
			}
			// Another writer gets there first.
			n := bumps.Add(1)
			rewrite(t, srv, leases, "leases", func(obj map[string]any) {
				obj["metadata"].(map[string]any)["annotations"].(map[string]any)["n"] = string(rune('0' + n%10))
			})
		})
		err := rl.RequestTransfer(context.Background(), srv.Client(), ns, "lock", "b")
		st := storedLease(t, srv)
		if tc.wantErr {
			if !k8sapi.IsConflict(err) || !strings.Contains(err.Error(), "5 writes conflicted") || puts.Load() != 5 {
				t.Errorf("%d conflicts: RequestTransfer = %v after %d writes; want a Conflict after 5", tc.conflicts, err, puts.Load())
			}
			if st.Annotation != nil {
				t.Errorf("%d conflicts: the request was stored: %+v", tc.conflicts, st)
			}
			continue
		}
		if err != nil || int(puts.Load()) != tc.conflicts+1 {
			t.Errorf("%d conflicts: RequestTransfer = %v after %d writes", tc.conflicts, err, puts.Load())
		}
		if diff := cmp.Diff(leaseState{Annotation: ptr("b"), PreferredHolder: ptr("b"), Strategy: ptr("OldestEmulationVersion")}, st,
			cmp.FilterPath(isRV, cmp.Ignore())); diff != "" {
			t.Errorf("%d conflicts: stored (-want +got):\n%s", tc.conflicts, diff)
		}
		if _, ann := storedMeta(t, srv, leases, "leases"); tc.conflicts > 0 && ann["n"] == "0" {
			t.Errorf("%d conflicts: the other writer's annotation was overwritten: %v", tc.conflicts, ann)
		}
	}
}

// RequestTransfer: a Lease that already names the holder is not written;
// an empty holder withdraws the request; the record is untouched; a lock
// that is an Endpoints or ConfigMap object is refused with ErrNotLease; no
// lock at all is NotFound; bad arguments are ErrInvalidLock.
func TestRequestTransfer(t *testing.T) {
	ctx := context.Background()
	srv := testapiserver.New(testapiserver.Options{})
	client := srv.Client()
	putLease(t, srv, nil, "")
	rawBefore, _ := srv.Get(leases, "leases", ns, "lock")

	if err := rl.RequestTransfer(ctx, client, ns, "lock", "b"); err != nil {
		t.Fatal(err)
	}
	first := storedLease(t, srv)
	if diff := cmp.Diff(leaseState{Annotation: ptr("b")}, first, cmp.FilterPath(isRV, cmp.Ignore())); diff != "" {
		t.Errorf("after the request (-want +got):\n%s", diff)
	}
	var writes atomic.Int32
	srv.SetHook(func(r *http.Request) {
		if r.Method != http.MethodGet {
			writes.Add(1)
		}
	})
	if err := rl.RequestTransfer(ctx, client, ns, "lock", "b"); err != nil {
		t.Fatal(err)
	}
	if writes.Load() != 0 {
		t.Errorf("the same request again wrote the Lease %d times", writes.Load())
	}
	srv.SetHook(nil)
	if err := rl.RequestTransfer(ctx, client, ns, "lock", ""); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(leaseState{}, storedLease(t, srv), cmp.FilterPath(isRV, cmp.Ignore())); diff != "" {
		t.Errorf("after withdrawing (-want +got):\n%s", diff)
	}
	rawAfter, _ := srv.Get(leases, "leases", ns, "lock")
	if diff := cmp.Diff(specOf(t, rawBefore), specOf(t, rawAfter)); diff != "" {
		t.Errorf("spec changed by a request and its withdrawal (-before +after):\n%s", diff)
	}

	for _, kind := range []string{rl.EndpointsResourceLock, rl.ConfigMapsResourceLock} {
		other := testapiserver.New(testapiserver.Options{})
		if err := newLock(t, other, kind, "a").Create(ctx, record("a", 0, time.Now())); err != nil {
			t.Fatal(err)
		}
		err := rl.RequestTransfer(ctx, other.Client(), ns, "lock", "b")
		if !errors.Is(err, rl.ErrNotLease) || !strings.Contains(err.Error(), "team-a/lock is a") {
			t.Errorf("transfer on a %s lock = %v, want ErrNotLease", kind, err)
		}
	}
	empty := testapiserver.New(testapiserver.Options{})
	// A ConfigMap of that name without a record is no lock.
	if err := empty.Put("", "configmaps", []byte(`{"metadata":{"name":"lock","namespace":"`+ns+`"},"data":{"a":"b"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := rl.RequestTransfer(ctx, empty.Client(), ns, "lock", "b"); !k8sapi.IsNotFound(err) || errors.Is(err, rl.ErrNotLease) {
		t.Errorf("transfer without a lock = %v, want NotFound", err)
	}
	for _, args := range [][2]string{{"", "lock"}, {ns, "a/b"}, {"Team", "lock"}} {
		if err := rl.RequestTransfer(ctx, client, args[0], args[1], "b"); !errors.Is(err, rl.ErrInvalidLock) || !errors.Is(err, k8sapi.ErrInvalidName) {
			t.Errorf("RequestTransfer(%q, %q) = %v, want ErrInvalidLock and ErrInvalidName", args[0], args[1], err)
		}
	}
	if err := rl.RequestTransfer(ctx, nil, ns, "lock", "b"); !errors.Is(err, rl.ErrInvalidLock) {
		t.Errorf("RequestTransfer without a client = %v, want ErrInvalidLock", err)
	}
}

func specOf(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var obj struct {
		Spec map[string]any `json:"spec"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return obj.Spec
}

// A MultiLock migrating to a Lease carries the Lease's transfer request in
// its record, and writes a PreferredHolder only to the Lease: the
// annotation record stays the five fields every writer knows.
func TestMultiLockPreferredHolder(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	srv := testapiserver.New(testapiserver.Options{})
	m := newLock(t, srv, rl.EndpointsLeasesResourceLock, "a")
	if err := m.Create(ctx, record("a", 1, at)); err != nil {
		t.Fatal(err)
	}
	_, before, err := m.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.RequestTransfer(ctx, srv.Client(), ns, "lock", "b"); err != nil {
		t.Fatal(err)
	}
	rec, after, err := m.Get(ctx)
	if err != nil || rec.PreferredHolder != "b" || rec.HolderIdentity != "a" {
		t.Errorf("MultiLock record = %+v, %v; want a's, preferring b", rec, err)
	}
	if string(before) != string(after) {
		t.Errorf("MultiLock raw bytes changed by a transfer request:\n%s\n%s", before, after)
	}
	released := record("", 1, at.Add(time.Second))
	released.PreferredHolder = "b"
	if err := m.Update(ctx, released); err != nil {
		t.Fatal(err)
	}
	if st := storedLease(t, srv); st.Annotation == nil || *st.Annotation != "b" {
		t.Errorf("Lease after the MultiLock's write: %+v", st)
	}
	_, ann := storedMeta(t, srv, "", "endpoints")
	want := `{"holderIdentity":"","leaseDurationSeconds":15,"acquireTime":"2025-06-01T08:00:01Z","renewTime":"2025-06-01T08:00:01Z","leaderTransitions":1}`
	if ann[rl.LeaderElectionRecordAnnotationKey] != want {
		t.Errorf("Endpoints record = %s\nwant %s", ann[rl.LeaderElectionRecordAnnotationKey], want)
	}
	if _, ok := ann[rl.PreferredHolderAnnotationKey]; ok {
		t.Errorf("Endpoints object got the transfer annotation: %v", ann)
	}
}

// The annotation record is byte for byte what this library wrote before
// the record had PreferredHolder and Strategy, whatever they hold; a
// record marshalled from client-go v0.37's type, which has both fields
// without omitempty, decodes (they are ignored: a transfer is a Lease
// feature). Marshalled on its own, a record without them has the old JSON.
func TestAnnotationRecordUnchanged(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 7, 0, 0, 0, time.UTC)
	// As TestWireFormats has it, from before the two fields existed.
	const golden = `{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2025-06-01T07:00:00Z","renewTime":"2025-06-01T07:00:00Z","leaderTransitions":2}`
	plain := record("a", 2, at)
	if b, err := json.Marshal(plain); err != nil || string(b) != golden {
		t.Errorf("json.Marshal(record) = %s, %v; want %s", b, err, golden)
	}
	for _, k := range []lockKind{{rl.EndpointsResourceLock, "", "endpoints"}, {rl.ConfigMapsResourceLock, "", "configmaps"}} {
		for _, rec := range []rl.LeaderElectionRecord{plain, func() rl.LeaderElectionRecord {
			r := plain
			r.PreferredHolder, r.Strategy = "b", "OldestEmulationVersion"
			return r
		}()} {
			srv := testapiserver.New(testapiserver.Options{})
			l := newLock(t, srv, k.kind, "a")
			if err := l.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			if _, ann := storedMeta(t, srv, k.group, k.resource); ann[rl.LeaderElectionRecordAnnotationKey] != golden {
				t.Errorf("%s: annotation of %+v = %s\nwant %s", k.kind, rec, ann[rl.LeaderElectionRecordAnnotationKey], golden)
			}
		}

		// client-go v0.37's record JSON.
		srv := testapiserver.New(testapiserver.Options{})
		for _, extra := range []string{`"strategy":"","preferredHolder":""`, `"strategy":"OldestEmulationVersion","preferredHolder":"b"`} {
			value := strings.TrimSuffix(golden, "}") + "," + extra + "}"
			ann, _ := json.Marshal(map[string]string{rl.LeaderElectionRecordAnnotationKey: value})
			doc := `{"metadata":{"name":"lock","namespace":"` + ns + `","annotations":` + string(ann) + `}}`
			if err := srv.Put(k.group, k.resource, []byte(doc)); err != nil {
				t.Fatal(err)
			}
			got, raw, err := newLock(t, srv, k.kind, "x").Get(ctx)
			if err != nil {
				t.Fatalf("%s: record %s: %v", k.kind, value, err)
			}
			if diff := cmp.Diff(plain, *got, cmp.Comparer(timeEqual)); diff != "" || string(raw) != value {
				t.Errorf("%s: record %s read as (-want +got):\n%s(raw %s)", k.kind, value, diff, raw)
			}
		}
	}
}
