package resourcelock

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kubelect/kubelect/internal/watchloop"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// The disagreement the two stream readers had: this one ended the stream
// at an object whose record could not be read at all, the shared watch
// skipped it. Both skip it now: the stream has moved past it, so ending it
// would only reopen it (the follower polling meanwhile, a restart counted)
// and lose nothing less; and no write rests on what a watch shows.
func TestWatchRecordSkipsUnreadableObject(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	c := srv.Client()
	lock := &ConfigMapLock{ConfigMapMeta: ObjectMeta{Namespace: "default", Name: "lock"}, Client: c,
		LockConfig: ResourceLockConfig{Identity: "a"}}
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	rec := func(holder string) LeaderElectionRecord {
		return LeaderElectionRecord{HolderIdentity: holder, LeaseDurationSeconds: 15, AcquireTime: NewTime(at), RenewTime: NewTime(at)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lock.Create(ctx, rec("a")); err != nil {
		t.Fatal(err)
	}
	unreadable := errors.New("cannot read")
	decode := func(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error) {
		r, raw, err := decodeAnnotation(obj)
		if err == nil && r.HolderIdentity == "a" {
			return nil, nil, unreadable
		}
		return r, raw, err
	}
	var seen []string
	var pos watchloop.Position
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- watchRecord(wctx, c, k8sapi.ConfigMaps, lock.ConfigMapMeta, decode, &pos, func(r *LeaderElectionRecord, _ []byte) {
			seen = append(seen, r.HolderIdentity)
			stop()
		})
	}()
	// The watch starts from the current state: a's unreadable object.
	for pos.Load() == "" {
		if ctx.Err() != nil {
			t.Fatal("the watch delivered nothing")
		}
		time.Sleep(time.Millisecond)
	}
	if err := lock.Update(ctx, rec("b")); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if errors.Is(err, unreadable) {
		t.Fatalf("the stream ended at the unreadable object: %v", err)
	}
	if len(seen) != 1 || seen[0] != "b" {
		t.Errorf("observed %q, want only the readable record of b", seen)
	}
}
