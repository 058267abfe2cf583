package fencing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	fence "github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/k8sapi"
)

// A leader process that is paused (SIGSTOP) for longer than its lease
// wakes believing it leads, and writes on with its token. By then another
// candidate has taken over and written with its own, higher token; the
// late writes are refused, whatever the old leader believes: by
// kube-apiserver for fenced updates of a ConfigMap (fencing.UpdateObject),
// and by a service guarded by a fencing.Checker. The ConfigMap keeps the
// new leader's data and token: a watch of it shows no write of the old
// leader after the new leader's first.
func TestPausedLeaderWriteRefused(t *testing.T) {
	need(t)
	admin := adminClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	suffix := time.Now().UnixNano() % 1e6
	name, cm := fmt.Sprintf("paused-%d", suffix), fmt.Sprintf("paused-data-%d", suffix)

	// The data the leaders write: every writer uses UpdateObject.
	obj := k8sapi.NewObject(k8sapi.ConfigMaps, cluster.Namespace, cm)
	if err := obj.SetField(map[string]string{"writer": "nobody"}, "data"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Create(ctx, k8sapi.ConfigMaps, obj); err != nil {
		t.Fatal(err)
	}
	cmWatch := watch(t, admin, k8sapi.ConfigMaps, cluster.Namespace, cm)
	svc := newGuarded()
	srv := httptest.NewServer(svc) // on 127.0.0.1
	defer srv.Close()
	flags := []string{"-configmap", cm, "-checker", srv.URL, "-write-every", "100ms"}

	const oldID, newID = "old-leader", "new-leader"
	a := startProcess(t, nil, rl.LeasesResourceLock, name, oldID, flags...)
	ta := waitLead(t, a, 15*time.Second)
	// a writes, and its writes land.
	waitProc(t, a, 10*time.Second, "two accepted fenced writes of "+oldID, func(evs []procEvent) bool {
		return countEv(evs, func(e procEvent) bool { return e.Ev == "write" && e.OK }) >= 2 &&
			countEv(evs, func(e procEvent) bool { return e.Ev == "check" && e.Code == http.StatusOK }) >= 2
	})
	b := startProcess(t, nil, rl.LeasesResourceLock, name, newID, flags...)
	waitProc(t, b, 10*time.Second, newID+" seeing "+oldID+" lead", func([]procEvent) bool { return b.proc.lastHolder() == oldID })

	// Pause the leader for longer than its lease: b takes over.
	if err := a.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	tb := waitLead(t, b, 3*leaseDuration+5*time.Second)
	t.Logf("%s paused; %s leads %v later; tokens %d (paused leader) and %d (new leader)", oldID, newID,
		time.Since(paused).Round(time.Millisecond), ta, tb)
	if tb <= ta {
		t.Fatalf("the new leader's token %d is not above the paused leader's %d", tb, ta)
	}
	// b's first fenced write is accepted: the ConfigMap says so.
	var bFirstRV uint64
	if !waitFor(10*time.Second, func() bool {
		evs, _ := cmWatch.snapshot()
		i := slices.IndexFunc(evs, func(e objEvent) bool { return e.data["writer"] == newID })
		if i < 0 {
			return false
		}
		bFirstRV = evs[i].rv
		return true
	}) {
		t.Fatalf("no write of %s reached the ConfigMap within 10s:\n%s", newID, tail(b.proc.log, 2000))
	}
	if !waitFor(10*time.Second, func() bool { return svc.firstOf(newID) >= 0 }) {
		t.Fatalf("%s's requests did not reach the guarded service within 10s", newID)
	}
	// What a had said before it was paused: at most one write and one
	// request were under way when it stopped (its writer is sequential).
	before := a.proc.count()
	lastWrite, lastCheck := 0, 0
	for _, e := range a.proc.eventsSince(0) {
		switch e.Ev {
		case "write":
			lastWrite = max(lastWrite, e.Seq)
		case "check":
			lastCheck = max(lastCheck, e.Seq)
		}
	}

	if err := a.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s resumed after %v", oldID, time.Since(paused).Round(time.Millisecond))
	// a writes on, with its old token: three writes and three requests that
	// began after it resumed.
	waitProc(t, a, 10*time.Second, "three fenced writes and three requests of "+oldID+" after it resumed", func(evs []procEvent) bool {
		return countEv(evs, func(e procEvent) bool { return e.Ev == "write" && e.Seq >= lastWrite+2 }) >= 3 &&
			countEv(evs, func(e procEvent) bool { return e.Ev == "check" && e.Seq >= lastCheck+2 }) >= 3
	})
	after := a.proc.eventsSince(before)

	// The fenced updates of the ConfigMap.
	var refused []procEvent
	for _, e := range after {
		if e.Ev != "write" {
			continue
		}
		if e.OK {
			// Only the write under way when a was paused may have landed,
			// and then before b's first.
			rv, _ := strconv.ParseUint(e.RV, 10, 64)
			if e.Seq != lastWrite+1 || rv >= bFirstRV {
				t.Errorf("%s's write %d with token %s was accepted at resourceVersion %s, after %s's first write (%d)",
					oldID, e.Seq, e.Token, e.RV, newID, bFirstRV)
			}
			continue
		}
		refused = append(refused, e)
	}
	if len(refused) == 0 {
		t.Fatalf("no write of %s was refused after it resumed: %+v", oldID, after)
	}
	// The first refusal is the token's (StaleError), or the precondition's
	// (a write read before b's and sent after it: Conflict), and then the
	// token's on the next read.
	switch first := refused[0]; {
	case first.Stale:
	case first.Conflict && len(refused) > 1 && refused[1].Stale:
		t.Logf("%s's first late write conflicted (read before the pause, sent after); the next was refused as stale", oldID)
	default:
		t.Errorf("%s's first refused write: %+v; want a StaleError, or a Conflict and then a StaleError", oldID, refused[:min(2, len(refused))])
	}
	for _, e := range refused {
		if !e.Stale && !e.Conflict {
			t.Errorf("%s's write %d failed otherwise than as stale or conflicting: %s", oldID, e.Seq, e.Err)
		}
		if e.Stale && e.Highest != tb.String() {
			t.Errorf("%s's write %d was refused for token %s; want the new leader's %d", oldID, e.Seq, e.Highest, tb)
		}
	}

	// The ConfigMap holds the new leader's data and token, and no write of
	// the old leader came after the new leader's first.
	got, err := admin.Get(ctx, k8sapi.ConfigMaps, cluster.Namespace, cm)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]string
	if _, err := got.DecodeField(&data, "data"); err != nil {
		t.Fatal(err)
	}
	if data["writer"] != newID || data["token"] != tb.String() || got.Annotations()[fence.AnnotationKey] != tb.String() {
		t.Errorf("the ConfigMap holds writer %q, token %q, annotation %q; want %s's, with token %d",
			data["writer"], data["token"], got.Annotations()[fence.AnnotationKey], newID, tb)
	}
	evs, gaps := cmWatch.snapshot()
	if len(gaps) > 0 {
		t.Errorf("the watch of the ConfigMap has gaps %v", gaps)
	}
	sawNew := false
	for _, e := range evs {
		switch e.data["writer"] {
		case newID:
			sawNew = true
		case oldID:
			if sawNew {
				t.Errorf("the ConfigMap was written by %s (token %s) at %d, after %s's first write", oldID, e.fenceToken, e.rv, newID)
			}
		}
	}

	// The service guarded by a Checker admitted none of a's requests after
	// b's first, and refused those a sent once it resumed.
	admitted, refusals, persisted := svc.snapshot()
	firstNew := slices.IndexFunc(admitted, func(r guardedReq) bool { return r.Writer == newID })
	for _, r := range admitted[firstNew:] {
		if r.Writer == oldID {
			t.Errorf("the guarded service admitted %s's request %d (token %d) after %s's first", oldID, r.Seq, r.Token, newID)
		}
	}
	var lateChecks []procEvent
	for _, e := range after {
		if e.Ev == "check" && e.Seq >= lastCheck+2 {
			lateChecks = append(lateChecks, e)
		}
	}
	for _, e := range lateChecks {
		if e.Code != http.StatusConflict || !strings.Contains(e.Body, "stale token") {
			t.Errorf("%s's request %d after it resumed: %d %q (%s); want 409 for a stale token", oldID, e.Seq, e.Code, e.Body, e.Err)
		}
	}
	if !slices.ContainsFunc(refusals, func(r guardedReq) bool { return r.Writer == oldID && r.Token == ta }) {
		t.Errorf("the guarded service refused no request of %s", oldID)
	}
	if h := svc.checker.Highest(); h != tb {
		t.Errorf("the Checker's highest token is %d; want %d", h, tb)
	}
	if !slices.Equal(persisted, []fence.Token{ta, tb}) {
		t.Errorf("the Checker persisted %v; want [%d %d]", persisted, ta, tb)
	}

	// The paused leader's elector ended its leadership once it ran again:
	// its deadline had passed.
	waitProc(t, a, 5*time.Second, oldID+"'s leadership ending", func(evs []procEvent) bool {
		return countEv(evs, func(e procEvent) bool { return e.Ev == "stopped" }) == 1
	})
	t.Logf("%s after it resumed: %d fenced writes refused (first: stale %v, conflict %v), %d requests refused by the Checker; the ConfigMap and the Checker hold token %d",
		oldID, len(refused), refused[0].Stale, refused[0].Conflict, len(lateChecks), tb)
}

// waitLead waits for a process's "lead" line and returns its token.
func waitLead(t *testing.T, c *cand, d time.Duration) fence.Token {
	t.Helper()
	var token fence.Token
	waitProc(t, c, d, c.id+" leading", func(evs []procEvent) bool {
		for _, e := range evs {
			if e.Ev == "lead" {
				var err error
				if token, err = fence.ParseToken(e.Token); err != nil {
					t.Fatalf("%s: token %q: %v (%s)", c.id, e.Token, err, e.Err)
				}
				return true
			}
		}
		return false
	})
	return token
}

// waitProc waits up to d until cond holds for a process's lines.
func waitProc(t *testing.T, c *cand, d time.Duration, what string, cond func([]procEvent) bool) {
	t.Helper()
	if !waitFor(d, func() bool { return cond(c.proc.eventsSince(0)) }) {
		t.Fatalf("no %s within %v; its lines: %+v\nits log:\n%s", what, d, c.proc.eventsSince(0), tail(c.proc.log, 2000))
	}
}

func countEv(evs []procEvent, f func(procEvent) bool) int {
	n := 0
	for _, e := range evs {
		if f(e) {
			n++
		}
	}
	return n
}

// guardedReq is a request to the guarded service.
type guardedReq struct {
	Writer string      `json:"writer"`
	Token  fence.Token `json:"token"`
	Seq    int         `json:"seq"`
}

// guarded is a service that receives the leaders' writes behind a
// fencing.Checker, as a store in front of a database would. It persists
// its highest token through the Checker's hook (here, in memory).
type guarded struct {
	checker *fence.Checker

	mu        sync.Mutex
	admitted  []guardedReq  // guarded by mu: in the order admitted
	refused   []guardedReq  // guarded by mu
	persisted []fence.Token // guarded by mu
}

func newGuarded() *guarded {
	g := &guarded{}
	g.checker = fence.NewChecker(0, func(t fence.Token) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.persisted = append(g.persisted, t)
		return nil
	})
	return g
}

func (g *guarded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req guardedReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	err := g.checker.Do(req.Token, func() error {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.admitted = append(g.admitted, req)
		return nil
	})
	switch {
	case errors.Is(err, fence.ErrStale):
		g.mu.Lock()
		g.refused = append(g.refused, req)
		g.mu.Unlock()
		http.Error(w, err.Error(), http.StatusConflict)
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// firstOf is the place of writer's first admitted request, or -1.
func (g *guarded) firstOf(writer string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.IndexFunc(g.admitted, func(r guardedReq) bool { return r.Writer == writer })
}

func (g *guarded) snapshot() (admitted, refused []guardedReq, persisted []fence.Token) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.admitted), slices.Clone(g.refused), slices.Clone(g.persisted)
}
