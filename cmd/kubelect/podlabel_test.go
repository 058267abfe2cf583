//go:build go1.25

//go:debug asynctimerchan=0

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// The timings of the labelers here: requests bounded by 1s, the removal at
// the end by 500ms, the pods of earlier holders checked every 4s.
const (
	labelLease = 4 * time.Second
	labelRenew = 2 * time.Second
	labelRetry = 500 * time.Millisecond
)

// putPod stores a pod named name in team-a with the leader label of lock
// in term (none when term is 0).
func putPod(t *testing.T, srv *testapiserver.Server, name, lock string, term int) {
	t.Helper()
	md := map[string]any{"namespace": "team-a", "name": name, "labels": map[string]string{"app": "x"}}
	if term > 0 {
		md["labels"] = map[string]string{"app": "x", leaderLabel: lock}
		md["annotations"] = map[string]string{leaderTermAnnotation: fmt.Sprint(term)}
	}
	b, _ := json.Marshal(map[string]any{"metadata": md})
	if err := srv.Put("", "pods", b); err != nil {
		t.Fatal(err)
	}
}

// podLabel returns the pod's leader label and term annotation ("" when
// absent).
func podLabel(t *testing.T, srv *testapiserver.Server, name string) (label, term string) {
	t.Helper()
	b, ok := srv.Get("", "pods", "team-a", name)
	if !ok {
		t.Fatalf("pod %s is gone", name)
	}
	var pod struct {
		Metadata struct {
			Labels      map[string]string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(b, &pod); err != nil {
		t.Fatal(err)
	}
	return pod.Metadata.Labels[leaderLabel], pod.Metadata.Annotations[leaderTermAnnotation]
}

func wantLabel(t *testing.T, srv *testapiserver.Server, pod, label, term string) {
	t.Helper()
	if l, tm := podLabel(t, srv, pod); l != label || tm != term {
		t.Errorf("pod %s: label %q term %q, want %q %q", pod, l, tm, label, term)
	}
}

// newLabeler makes the labeler of pod for the lock "my-lock" through the
// command's constructor, on srv.
func newLabeler(t *testing.T, srv *testapiserver.Server, pod string) *podLabeler {
	t.Helper()
	client := srv.Client()
	a := &app{getenv: func(k string) string {
		return map[string]string{"POD_NAME": pod, "POD_NAMESPACE": "team-a"}[k]
	}}
	e := &env{log: slog.New(slog.NewTextHandler(io.Discard, nil)), client: client, namespace: "lock-ns", identity: pod}
	c := &commonFlags{name: "my-lock", leaseDuration: labelLease, renewDeadline: labelRenew, retryPeriod: labelRetry}
	p, err := a.podLabeler(e, c, &podLabelFlags{on: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.timeout != time.Second || p.endBudget != labelRetry || p.recheck != labelLease || p.namespace != "team-a" {
		t.Fatalf("labeler %+v: want requests bounded by 1s, the removal by %v, a check every %v, in team-a", p, labelRetry, labelLease)
	}
	return p
}

// patches records the paths of the PATCH requests srv sees, in order.
type patches struct {
	mu    sync.Mutex
	paths []string
}

func recordPatches(srv *testapiserver.Server) *patches {
	p := &patches{}
	srv.SetHook(func(r *http.Request) {
		if r.Method == http.MethodPatch {
			p.mu.Lock()
			p.paths = append(p.paths, strings.TrimPrefix(r.URL.Path, "/api/v1/namespaces/team-a/pods/"))
			p.mu.Unlock()
		}
	})
	return p
}

func (p *patches) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...)
}

// leading runs a leadership of term for p in the background, as lead does;
// closing the returned channel is the stop channel closing, and the
// function waits for the labeler to be done, as OnStartedLeading's return
// does.
func leading(p *podLabeler, term int) (stop chan struct{}, wait func()) {
	stop = make(chan struct{})
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.leadTerm(term, stop, quit)
	}()
	return stop, func() { close(quit); <-done }
}

// A new leader takes the label off the pods of the holders it saw (older
// terms only, on the condition of the term it read), labels its own pod
// only then, checks the old pods again every lease duration, and takes its
// label off when its leadership ends.
func TestPodLabelerTakesOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		putPod(t, srv, "a", "my-lock", 3)    // the crashed leader's
		putPod(t, srv, "c", "my-lock", 9)    // a later leadership than ours
		putPod(t, srv, "d", "other-lock", 2) // another lock's leader
		putPod(t, srv, "b", "", 0)           // ours
		rec := recordPatches(srv)
		p := newLabeler(t, srv, "b")
		observe := p.onNewLeader()
		for _, id := range []string{"d", "a", "c", "b"} {
			observe(id)
		}
		stop, wait := leading(p, 4)
		synctest.Wait()
		wantLabel(t, srv, "a", "", "")
		wantLabel(t, srv, "b", "my-lock", "4")
		wantLabel(t, srv, "c", "my-lock", "9")
		wantLabel(t, srv, "d", "other-lock", "2")
		// A read of each other pod, a removal from "a", then this pod's
		// label.
		seq := rec.list()
		if len(seq) != 5 || seq[4] != "b" || strings.Count(strings.Join(seq, " "), "a") != 2 {
			t.Errorf("PATCHes %q: want a read of a, c and d, a removal from a, then b labelled", seq)
		}

		// A label request of "c"'s that arrives late, in an older term.
		putPod(t, srv, "c", "my-lock", 3)
		time.Sleep(labelLease - time.Millisecond)
		synctest.Wait()
		wantLabel(t, srv, "c", "my-lock", "3")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		wantLabel(t, srv, "c", "", "")

		close(stop)
		synctest.Wait()
		wantLabel(t, srv, "b", "", "")
		wait()
	})
}

// The constructor keeps only the three most recent holders; the oldest
// leftover label is left to the leaders that saw it.
func TestPodLabelerRemembersThreeHolders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		for i, name := range []string{"a", "b", "c", "d"} {
			putPod(t, srv, name, "my-lock", i+1)
		}
		putPod(t, srv, "e", "", 0)
		p := newLabeler(t, srv, "e")
		observe := p.onNewLeader()
		for _, id := range []string{"a", "b", "c", "d", "b", "e"} {
			observe(id)
		}
		stop, wait := leading(p, 5)
		synctest.Wait()
		wantLabel(t, srv, "a", "my-lock", "1") // forgotten: c, d and b came later
		for _, name := range []string{"b", "c", "d"} {
			wantLabel(t, srv, name, "", "")
		}
		wantLabel(t, srv, "e", "my-lock", "5")
		close(stop)
		wait()
	})
}

// The labeler waits for the elector's report of this leadership, so that
// every holder reported before it is known; a pod that cannot be checked
// holds the label back; a removal is conditional on the term.
func TestPodLabelerWaitsAndConditions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		putPod(t, srv, "a", "my-lock", 1)
		putPod(t, srv, "b", "", 0)
		rec := recordPatches(srv)
		p := newLabeler(t, srv, "b")
		observe := p.onNewLeader()
		stop, wait := leading(p, 2)
		synctest.Wait()
		if got := rec.list(); len(got) != 0 {
			t.Fatalf("PATCHes %q before the elector reported this leadership", got)
		}
		observe("a")
		synctest.Wait()
		if got := rec.list(); len(got) != 0 {
			t.Fatalf("PATCHes %q before the elector reported this leadership", got)
		}
		// The API server fails the check of "a": this pod waits.
		srv.FailNext(1, http.StatusInternalServerError)
		observe("b")
		synctest.Wait()
		wantLabel(t, srv, "a", "my-lock", "1")
		wantLabel(t, srv, "b", "", "")
		time.Sleep(labelRetry + labelRetry/2) // the longest first back-off
		synctest.Wait()
		wantLabel(t, srv, "a", "", "")
		wantLabel(t, srv, "b", "my-lock", "2")

		// Our pod leads again in term 3 (a restarted candidate) before the
		// removal of term 2 comes: the removal leaves term 3's label.
		putPod(t, srv, "b", "my-lock", 3)
		close(stop)
		synctest.Wait()
		wantLabel(t, srv, "b", "my-lock", "3")
		wait()
	})
}

// The removal at the end of a leadership never takes longer than its
// budget, whatever the API server does; the next leader removes what is
// left.
func TestPodLabelerRemovalIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		putPod(t, srv, "a", "", 0)
		putPod(t, srv, "b", "", 0)
		p := newLabeler(t, srv, "a")
		stop, wait := leading(p, 1) // not wired to an elector: no holders, no wait
		synctest.Wait()
		wantLabel(t, srv, "a", "my-lock", "1")
		srv.SetHang(true)
		start := time.Now()
		close(stop)
		wait()
		if d := time.Since(start); d != labelRetry {
			t.Errorf("the removal took %v, want its budget %v", d, labelRetry)
		}
		srv.SetHang(false)
		wantLabel(t, srv, "a", "my-lock", "1")

		// Holders that are no pods, or gone, have nothing to remove.
		q := newLabeler(t, srv, "b")
		observe := q.onNewLeader()
		for _, id := range []string{"gone", "not/a/pod", "a", "b"} {
			observe(id)
		}
		stop, wait = leading(q, 2)
		synctest.Wait()
		wantLabel(t, srv, "a", "", "")
		wantLabel(t, srv, "b", "my-lock", "2")
		// OnStartedLeading returning ends the labelling too.
		wait()
		wantLabel(t, srv, "b", "", "")
		close(stop)
	})
}

// A leadership that ends before the label is set sends no removal; a nil
// labeler (--label-pod off) does nothing.
func TestPodLabelerEndsEarlyAndNil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		putPod(t, srv, "b", "", 0)
		rec := recordPatches(srv)
		p := newLabeler(t, srv, "b")
		p.onNewLeader()("a")
		stop, wait := leading(p, 1)
		close(stop)
		wait()
		if got := rec.list(); len(got) != 0 {
			t.Errorf("PATCHes %q for a leadership that ended before its report", got)
		}
		var none *podLabeler
		if none.onNewLeader() != nil {
			t.Error("a nil labeler has an OnNewLeader callback")
		}
		none.lead(nil, nil)()
	})
}

func TestPodLabelerUsage(t *testing.T) {
	long := strings.Repeat("x", 64)
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no POD_NAME", nil, []string{"--name=l", "--identity=p"}, "needs $POD_NAME"},
		{"another identity", map[string]string{"POD_NAME": "p"}, []string{"--name=l", "--identity=q"}, `the identity "q" is not $POD_NAME "p"`},
		{"a name too long for a label", map[string]string{"POD_NAME": "p"}, []string{"--name=" + long}, "more than 63"},
		{"an observer", map[string]string{"POD_NAME": "p"}, []string{"--name=l", "--observe-only"}, "not with --observe-only"},
		{"not a pod's name", map[string]string{"POD_NAME": "P_1"}, []string{"--name=l"}, "not a pod's name"},
		{"not a namespace", map[string]string{"POD_NAME": "p", "POD_NAMESPACE": "a.b"}, []string{"--name=l"}, "the pod's namespace"},
	} {
		te := newTestEnv(t)
		te.app.getenv = func(k string) string { return tt.env[k] }
		if code := te.run(append([]string{"serve", "--label-pod"}, tt.args...)...); code != exitUsage || !strings.Contains(te.stderr.String(), tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tt.name, code, te.stderr, exitUsage, tt.want)
		}
	}
	// The pod's namespace: $POD_NAMESPACE, else the pod's file, else the
	// lock's.
	nsFile := filepath.Join(t.TempDir(), "namespace")
	defer func(f string) { podNamespaceFile = f }(podNamespaceFile)
	podNamespaceFile = nsFile
	for _, tt := range []struct{ env, file, want string }{
		{"from-env", "from-file\n", "from-env"},
		{"", "from-file\n", "from-file"},
		{"", "", "lock-ns"},
	} {
		_ = os.Remove(nsFile)
		if tt.file != "" {
			if err := os.WriteFile(nsFile, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		a := &app{getenv: func(k string) string { return map[string]string{"POD_NAME": "p", "POD_NAMESPACE": tt.env}[k] }}
		e := &env{log: slog.New(slog.NewTextHandler(io.Discard, nil)), namespace: "lock-ns", identity: "p"}
		c := &commonFlags{name: "l", leaseDuration: 15 * time.Second, renewDeadline: 10 * time.Second, retryPeriod: 2 * time.Second}
		p, err := a.podLabeler(e, c, &podLabelFlags{on: true})
		if err != nil || p.namespace != tt.want {
			t.Errorf("$POD_NAMESPACE %q, file %q: namespace %v (%v), want %q", tt.env, tt.file, p, err, tt.want)
			continue
		}
		// The default timings: requests within 2.5s, the removal within 2s.
		if p.timeout != 2500*time.Millisecond || p.endBudget != 2*time.Second {
			t.Errorf("default timings: request deadline %v, removal budget %v; want 2.5s and 2s", p.timeout, p.endBudget)
		}
	}
	for _, ok := range []string{"l", "a.b-c_d", strings.Repeat("x", 63), "A1"} {
		if err := checkLabelValue(ok); err != nil {
			t.Errorf("checkLabelValue(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{long, "-a", "a.", "a/b", "é"} {
		if checkLabelValue(bad) == nil {
			t.Errorf("checkLabelValue(%q) accepted", bad)
		}
	}
}

// "kubelect serve --label-pod" labels its pod while it leads, and takes the
// label off before it releases the lock on SIGTERM.
func TestServeLabelsPod(t *testing.T) {
	te := newTestEnv(t)
	te.app.getenv = func(k string) string { return map[string]string{"POD_NAME": "pod-a", "POD_NAMESPACE": "team-a"}[k] }
	putPod(t, te.srv, "pod-a", "", 0)
	// Once serve is asked to stop, the label's removal is held for 100ms
	// (well within its 2s budget): a release of the Lease meanwhile would
	// come before the label is off.
	var mu sync.Mutex
	var order []string
	var stopping, holding bool
	te.srv.SetHook(func(r *http.Request) {
		if r.Method != http.MethodPatch && r.Method != http.MethodPut {
			return
		}
		mu.Lock()
		req := r.Method + " " + r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		if holding {
			req += " (while the removal is held)"
		}
		order = append(order, req)
		hold := stopping && r.Method == http.MethodPatch && !holding
		holding = holding || hold
		mu.Unlock()
		if hold {
			select {
			case <-time.After(100 * time.Millisecond):
			case <-r.Context().Done():
			}
			mu.Lock()
			holding = false
			mu.Unlock()
		}
	})
	client := te.srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := client.Watch(ctx, k8sapi.Pods, "team-a", "pod-a", k8sapi.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Next(); err != nil { // the pod as it is
		t.Fatal(err)
	}
	next := func() (term, labels string) {
		t.Helper()
		e, err := w.Next()
		if err != nil {
			t.Fatalf("watch of the pod: %v", err)
		}
		raw, _ := e.Object.Field("metadata", "labels")
		return e.Object.Annotations()[leaderTermAnnotation], string(raw)
	}

	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	code := make(chan int, 1)
	go func() {
		code <- te.app.run(serveCtx, []string{"serve", "--name=my-lock", "--label-pod", "--listen=127.0.0.1:0", "--log-level=error"})
	}()
	if term, labels := next(); term != "0" || !strings.Contains(labels, `"kubelect.io/leader":"my-lock"`) {
		t.Fatalf("the pod's first change: term %q, labels %s; want the leader label in term 0", term, labels)
	}
	lease := te.lock(t, rl.LeasesResourceLock, "team-a", "my-lock", "x")
	if rec, _, err := lease.Get(ctx); err != nil || rec.HolderIdentity != "pod-a" {
		t.Fatalf("the Lease: %+v %v", rec, err)
	}
	mu.Lock()
	stopping = true
	mu.Unlock()
	stopServe() // SIGTERM
	if c := <-code; c != exitOK {
		t.Fatalf("serve exit %d; stderr: %s", c, te.stderr)
	}
	if term, labels := next(); term != "" || strings.Contains(labels, leaderLabel) {
		t.Fatalf("the pod's next change: term %q, labels %s; want the label gone", term, labels)
	}
	if rec, _, err := lease.Get(ctx); err != nil || rec.HolderIdentity != "" {
		t.Errorf("the Lease after SIGTERM: %+v %v, want released", rec, err)
	}
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(order, ",")
	if !strings.HasSuffix(all, "PUT my-lock") || strings.Contains(all, "held") ||
		strings.LastIndex(all, "PATCH pod-a") > strings.LastIndex(all, "PUT my-lock") {
		t.Errorf("requests %q: want the label's removal done before the release", order)
	}
}
