package resourcelock

import (
	"context"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// An offer names the follower for the holder's term only, changes no byte
// of the record, is kept by the holder's renewals and its release, and
// reads as none once the term has moved on; a second offer for the same
// term, and an offer for a term that is over, write nothing.
func TestOfferSuccessor(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lease := func(id string) *LeaseLock {
		return &LeaseLock{LeaseMeta: ObjectMeta{Namespace: "default", Name: "lock"}, Client: srv.Client(), LockConfig: ResourceLockConfig{Identity: id}}
	}
	leader, b, c := lease("a"), lease("b"), lease("c")
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	rec := LeaderElectionRecord{HolderIdentity: "a", LeaseDurationSeconds: 15, AcquireTime: NewTime(at), RenewTime: NewTime(at), LeaderTransitions: 4}
	if err := leader.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	_, raw0, _ := b.Get(ctx)

	if ok, err := leader.offerSuccessor(ctx, 4); ok || err != nil {
		t.Errorf("the holder's own offer: %v, %v; want nothing written", ok, err)
	}
	if ok, err := b.offerSuccessor(ctx, 3); ok || err != nil {
		t.Errorf("offer for a term that is over: %v, %v; want nothing written", ok, err)
	}
	if ok, err := b.offerSuccessor(ctx, 4); !ok || err != nil {
		t.Fatalf("offer: %v, %v", ok, err)
	}
	if ok, err := c.offerSuccessor(ctx, 4); ok || err != nil {
		t.Errorf("second offer for the term: %v, %v; want nothing written", ok, err)
	}
	got, raw, err := c.Get(ctx)
	if err != nil || got.Successor != "b" || string(raw) != string(raw0) {
		t.Fatalf("after the offer: %+v, %v, record bytes changed %v; want b named, the record's bytes as they were", got, err, string(raw) != string(raw0))
	}

	// The leader's cached object is older than the offer: its renewal
	// conflicts, as the elector expects, unless a watch showed it the
	// offer (fresher), and then it keeps the offer.
	rec.RenewTime = NewTime(at.Add(2 * time.Second))
	if err := leader.Update(ctx, rec); !k8sapi.IsConflict(err) {
		t.Fatalf("renewal over a stale cache: %v; want a conflict", err)
	}
	obj, err := srv.Client().Get(ctx, k8sapi.Leases, "default", "lock")
	if err != nil {
		t.Fatal(err)
	}
	leader.decodeRecord(obj) // as the watch delivers it
	if err := leader.Update(ctx, rec); err != nil {
		t.Fatalf("renewal after the watch showed the offer: %v", err)
	}
	if got, _, _ := c.Get(ctx); got.Successor != "b" {
		t.Errorf("after the renewal: successor %q, want b", got.Successor)
	}
	// The release keeps the term, and so the offer.
	if err := leader.Update(ctx, LeaderElectionRecord{LeaseDurationSeconds: 1, AcquireTime: NewTime(at), RenewTime: NewTime(at), LeaderTransitions: 4}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := c.Get(ctx); got.HolderIdentity != "" || got.Successor != "b" {
		t.Errorf("after the release: %+v, want released, b named", got)
	}
	// A new term: the offer is over.
	if err := c.Update(ctx, LeaderElectionRecord{HolderIdentity: "c", LeaseDurationSeconds: 15, AcquireTime: NewTime(at), RenewTime: NewTime(at), LeaderTransitions: 5}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := b.Get(ctx); got.Successor != "" {
		t.Errorf("in the next term: successor %q, want none", got.Successor)
	}
}

// fresher takes a later version of the cached object only when the record,
// the transfer request and the uid are the same.
func TestFresher(t *testing.T) {
	obj := func(rv, uid, spec, preferred string) *k8sapi.Object {
		o := k8sapi.NewObject(k8sapi.Leases, "default", "lock")
		doc := `{"metadata":{"name":"lock","namespace":"default","resourceVersion":"` + rv + `","uid":"` + uid + `","annotations":{"x":"y"`
		if preferred != "" {
			doc += `,"` + PreferredHolderAnnotationKey + `":"` + preferred + `"`
		}
		doc += `}},"spec":` + spec + `}`
		if err := o.UnmarshalJSON([]byte(doc)); err != nil {
			t.Fatal(err)
		}
		return o
	}
	spec := `{"holderIdentity":"a"}`
	base := obj("10", "u1", spec, "")
	for _, tc := range []struct {
		name  string
		watch *k8sapi.Object
		take  bool
	}{
		{"later, beside the record", obj("11", "u1", spec, ""), true},
		{"older", obj("9", "u1", spec, ""), false},
		{"the same version", obj("10", "u1", spec, ""), false},
		{"another record", obj("11", "u1", `{"holderIdentity":"b"}`, ""), false},
		{"a transfer request", obj("11", "u1", spec, "b"), false},
		{"another uid", obj("11", "u2", spec, ""), false},
		{"a version that is no integer", obj("v11", "u1", spec, ""), false},
	} {
		var c objectCache
		c.store(base)
		c.fresher(tc.watch)
		if took := c.load() == tc.watch; took != tc.take {
			t.Errorf("%s: taken %v, want %v", tc.name, took, tc.take)
		}
	}
}
