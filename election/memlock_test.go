package election_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// quiet is a logger that drops everything.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// memStore is one lock object in memory, shared by the memLocks of several
// candidates. It numbers its versions like resourceVersion and logs every
// call, so tests can assert the exact sequence of requests.
type memStore struct {
	mu     sync.Mutex
	exists bool                    // guarded by mu
	rec    rl.LeaderElectionRecord // guarded by mu
	rv     int                     // guarded by mu
	calls  []string                // guarded by mu: "identity op" per call
	fail   error                   // guarded by mu: returned by every call when set
	hang   bool                    // guarded by mu: calls block until their context ends
	// onWrite, when set, is called (under mu) with each record stored.
	onWrite func(rl.LeaderElectionRecord)
	// uidPrecondition makes an Update of a deleted object answer 409, as
	// kube-apiserver does for an update that carries the old object's uid.
	uidPrecondition bool
	// conflicts makes every Update answer 409 Conflict without writing, as
	// a proxy or a webhook that rejects them would.
	conflicts bool
	// slow delays the answer to a write that was applied (in fake time,
	// under synctest); the caller sees its context's error if that ends
	// first, as when an answer is lost.
	slow time.Duration
}

func (s *memStore) setSlow(d time.Duration) { s.mu.Lock(); s.slow = d; s.mu.Unlock() }

// answer waits out the slow answer of a write that was applied.
func (s *memStore) answer(ctx context.Context) error {
	s.mu.Lock()
	d := s.slow
	s.mu.Unlock()
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *memStore) set(rec rl.LeaderElectionRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exists, s.rec = true, rec
	s.rv++
}

// remove deletes the object, as kubectl delete would.
func (s *memStore) remove() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exists, s.rec = false, rl.LeaderElectionRecord{}
	s.rv++
}

func (s *memStore) record() rl.LeaderElectionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec
}

func (s *memStore) setFail(err error) { s.mu.Lock(); s.fail = err; s.mu.Unlock() }
func (s *memStore) setHang(h bool)    { s.mu.Lock(); s.hang = h; s.mu.Unlock() }

// takeCalls returns the calls logged since the last takeCalls.
func (s *memStore) takeCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// begin logs a call and applies the injected faults.
func (s *memStore) begin(ctx context.Context, id, op string) error {
	s.mu.Lock()
	s.calls = append(s.calls, id+" "+op)
	hang, fail := s.hang, s.fail
	s.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return fail
}

// memLock is one candidate's view of a memStore: like the real locks it
// caches the version it last read or wrote and updates only that version.
type memLock struct {
	id    string
	store *memStore

	mu sync.Mutex
	rv int // guarded by mu: version last read or written; 0 = none
}

var _ rl.Interface = (*memLock)(nil)

func (l *memLock) Get(ctx context.Context) (*rl.LeaderElectionRecord, []byte, error) {
	if err := l.store.begin(ctx, l.id, "get"); err != nil {
		return nil, nil, err
	}
	s := l.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.exists {
		return nil, nil, &k8sapi.StatusError{Code: 404, Reason: "NotFound"}
	}
	l.mu.Lock()
	l.rv = s.rv
	l.mu.Unlock()
	rec := s.rec
	raw, err := json.Marshal(rec)
	return &rec, raw, err
}

func (l *memLock) Create(ctx context.Context, ler rl.LeaderElectionRecord) error {
	if err := l.store.begin(ctx, l.id, "create"); err != nil {
		return err
	}
	if err := l.create(ler); err != nil {
		return err
	}
	return l.store.answer(ctx)
}

func (l *memLock) create(ler rl.LeaderElectionRecord) error {
	s := l.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exists {
		return &k8sapi.StatusError{Code: 409, Reason: "AlreadyExists"}
	}
	s.exists, s.rec = true, ler
	s.rv++
	if s.onWrite != nil {
		s.onWrite(ler)
	}
	l.mu.Lock()
	l.rv = s.rv
	l.mu.Unlock()
	return nil
}

func (l *memLock) Update(ctx context.Context, ler rl.LeaderElectionRecord) error {
	if err := l.store.begin(ctx, l.id, "update"); err != nil {
		return err
	}
	if err := l.update(ler); err != nil {
		return err
	}
	return l.store.answer(ctx)
}

func (l *memLock) update(ler rl.LeaderElectionRecord) error {
	s := l.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conflicts {
		return &k8sapi.StatusError{Code: 409, Reason: "Conflict"}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.rv == 0:
		return fmt.Errorf("memlock: update before get")
	case !s.exists && s.uidPrecondition:
		return &k8sapi.StatusError{Code: 409, Reason: "Conflict"}
	case !s.exists:
		return &k8sapi.StatusError{Code: 404, Reason: "NotFound"}
	case l.rv != s.rv:
		return &k8sapi.StatusError{Code: 409, Reason: "Conflict"}
	}
	s.rec = ler
	s.rv++
	l.rv = s.rv
	if s.onWrite != nil {
		s.onWrite(ler)
	}
	return nil
}

func (l *memLock) RecordEvent(string) {}
func (l *memLock) Identity() string   { return l.id }
func (l *memLock) Describe() string   { return "memory/" + l.id }

// fineLock is a memLock that stores times to the microsecond, as a Lease.
type fineLock struct{ *memLock }

func (fineLock) TimePrecision() time.Duration { return time.Microsecond }
