package wrapper

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubelect/kubelect/test/kube/chaos"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// The label "kubelect serve --label-pod" puts on the leader's pod, and the
// annotation with its term.
const (
	leaderLabelKey = "kubelect.io/leader"
	leaderTermKey  = "kubelect.io/leader-term"
)

// The bounds of the label test, from the package's timings (4s/2s/500ms):
var (
	// labelDeadline is the deadline of each of kubelect's label requests:
	// min((lease - renew)/2, max(1s, renew/2)) = 1s.
	labelDeadline = min((leaseDuration-renewDeadline)/2, max(time.Second, renewDeadline/2))
	// lateLabelBound is how long a label that lands late (held up by the
	// network, here put back by the admin) stays: the leader checks the
	// pods it took over from every lease duration, and its removal takes
	// at most a request's deadline; 1s more for the watch and a loaded
	// machine.
	lateLabelBound = leaseDuration + labelDeadline + time.Second
	// labelTakeoverBound bounds a new label after a crash or a cut-off:
	// the lease runs out (a follower that polls sees it up to
	// (1+jitterFactor)·RetryPeriod late), then a read and a removal of the
	// old pod's label and the new label: 1s more on a loaded machine.
	labelTakeoverBound = leaseDuration + time.Duration((1+jitterFactor)*float64(retryPeriod)) + time.Second
	// labelHandoverBound bounds a new label after a planned handover
	// (SIGTERM, transfer): the old leader's removal and release, the new
	// one's acquisition, check and label; typically ~100ms.
	labelHandoverBound = leaseDuration / 2
)

// labelState is one pod's leader label as the admin's watch saw it last.
type labelState struct{ lock, term string }

// labelWatch follows the pods of the namespace as the cluster admin, with a
// list and a watch from its resourceVersion: every stored change of a
// pod, in the server's order. It records each change of the set of pods
// that carry the label of lock, and every stretch of time during which two
// or more did.
type labelWatch struct {
	lock string

	mu       sync.Mutex
	pods     map[string]labelState
	changes  []labelChange
	twoSince time.Time       // when the current stretch with two labels began
	overlaps []time.Duration // each stretch with two labels
	twoRVs   []string        // the resourceVersions at which two pods carried it
	changed  chan struct{}   // closed and replaced at each change of the set
	err      error
}

// labelChange is a change of the set of labelled pods.
type labelChange struct {
	at       time.Time
	rv       string
	labelled []string // pod:term, sorted
}

func (w *labelWatch) labelledLocked() []string {
	var l []string
	for pod, s := range w.pods {
		if s.lock == w.lock {
			l = append(l, pod+":"+s.term)
		}
	}
	sort.Strings(l)
	return l
}

// see applies one pod's state at rv, seen at at.
func (w *labelWatch) see(pod string, s labelState, gone bool, rv string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	before := strings.Join(w.labelledLocked(), ",")
	if gone {
		delete(w.pods, pod)
	} else {
		w.pods[pod] = s
	}
	now := w.labelledLocked()
	if strings.Join(now, ",") == before {
		return
	}
	w.changes = append(w.changes, labelChange{at: at, rv: rv, labelled: now})
	switch {
	case len(now) >= 2 && w.twoSince.IsZero():
		w.twoSince = at
		w.twoRVs = append(w.twoRVs, rv)
	case len(now) >= 2:
		w.twoRVs = append(w.twoRVs, rv)
	case !w.twoSince.IsZero():
		w.overlaps = append(w.overlaps, at.Sub(w.twoSince))
		w.twoSince = time.Time{}
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// labelled returns the pods that carry the label now (pod:term).
func (w *labelWatch) labelled() ([]string, <-chan struct{}, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.labelledLocked(), w.changed, w.err
}

// waitOnly waits until pod alone carries the label and returns when the
// watch saw that.
func (w *labelWatch) waitOnly(t *testing.T, pod string, timeout time.Duration, what string) time.Time {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l, changed, err := w.labelled()
		if err != nil {
			t.Fatalf("the admin's watch of the pods: %v", err)
		}
		if len(l) == 1 && strings.HasPrefix(l[0], pod+":") {
			w.mu.Lock()
			at := w.changes[len(w.changes)-1].at
			w.mu.Unlock()
			return at
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%s: %s is not the only labelled pod after %v; labelled: %q", what, pod, timeout, l)
		}
	}
}

// podEvent is what the watch reads of a pod.
type podEvent struct {
	Type   string `json:"type"`
	Object struct {
		Metadata struct {
			Name            string            `json:"name"`
			ResourceVersion string            `json:"resourceVersion"`
			Labels          map[string]string `json:"labels"`
			Annotations     map[string]string `json:"annotations"`
		} `json:"metadata"`
	} `json:"object"`
}

func (e podEvent) state() labelState {
	md := e.Object.Metadata
	return labelState{lock: md.Labels[leaderLabelKey], term: md.Annotations[leaderTermKey]}
}

// watchLabels starts the admin's watch of the pods of the namespace; it
// runs until the test ends.
func watchLabels(t *testing.T, c *harness.Cluster, lock string) *labelWatch {
	t.Helper()
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ctx, cancel := context.WithCancel(context.Background())
	get := func(query url.Values) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Host+"/api/v1/namespaces/"+c.Namespace+"/pods?"+query.Encode(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.AdminToken)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err == nil && resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			err = fmt.Errorf("GET pods %v: %s", query, resp.Status)
		}
		return resp, err
	}
	w := &labelWatch{lock: lock, pods: map[string]labelState{}, changed: make(chan struct{})}
	resp, err := get(url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []json.RawMessage `json:"items"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, raw := range list.Items {
		var e podEvent
		if err := json.Unmarshal([]byte(`{"type":"ADDED","object":`+string(raw)+`}`), &e); err != nil {
			t.Fatal(err)
		}
		w.see(e.Object.Metadata.Name, e.state(), false, list.Metadata.ResourceVersion, now)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rv := list.Metadata.ResourceVersion
		for ctx.Err() == nil {
			resp, err := get(url.Values{"watch": {"1"}, "resourceVersion": {rv}, "timeoutSeconds": {"300"}})
			if err != nil {
				if ctx.Err() == nil {
					w.fail(err)
				}
				return
			}
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
			for sc.Scan() {
				at := time.Now()
				var e podEvent
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					w.fail(fmt.Errorf("watch event %q: %w", sc.Bytes(), err))
					resp.Body.Close()
					return
				}
				if e.Type == "ERROR" {
					w.fail(fmt.Errorf("watch: %s", sc.Bytes()))
					resp.Body.Close()
					return
				}
				rv = e.Object.Metadata.ResourceVersion
				w.see(e.Object.Metadata.Name, e.state(), e.Type == "DELETED", rv, at)
			}
			resp.Body.Close()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *labelWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
		close(w.changed)
		w.changed = make(chan struct{})
	}
}

type labelEnv struct {
	t      *testing.T
	c      *harness.Cluster
	lock   string
	direct string // a kubeconfig straight to the API server, for transfer
	watch  *labelWatch
	cands  []*candidate
	// What each fault cost: from the fault to the new leader's label
	// (the time without a labelled pod, or with the old one's only).
	took map[string][]time.Duration
	log  []string
}

func (e *labelEnv) start(c *candidate) {
	t := e.t
	t.Helper()
	args := []string{"serve", "--name", e.lock, "-n", e.c.Namespace, "--identity", c.ident, "--kubeconfig", c.kubeconfig,
		"--listen", "127.0.0.1:0", "--log-format", "json", "--label-pod"}
	args = append(args, timingArgs()...)
	f, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "=== start at %s\n", time.Now().Format("15:04:05.000000"))
	cmd := exec.Command(kubelectBin, args...)
	cmd.Env = append(os.Environ(), "POD_NAME="+c.ident, "POD_NAMESPACE="+e.c.Namespace)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	c.cmd, c.done = cmd, done
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
}

// leader waits for the Lease to name a candidate whose pod alone carries
// the label, and returns it.
func (e *labelEnv) leader() *candidate {
	t := e.t
	t.Helper()
	var holder string
	waitFor(t, labelTakeoverBound+5*time.Second, "a leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l, err := getLease(ctx, e.c, e.lock)
		holder = l.Holder
		return err == nil && e.cand(holder) != nil && e.cand(holder).running()
	})
	e.watch.waitOnly(t, holder, labelHandoverBound+5*time.Second, "the leader's label")
	return e.cand(holder)
}

func (e *labelEnv) cand(ident string) *candidate {
	for _, c := range e.cands {
		if c.ident == ident {
			return c
		}
	}
	return nil
}

// moved waits for a candidate other than old to be the only labelled pod,
// and records how long that took since at.
func (e *labelEnv) moved(kind string, round int, old *candidate, at time.Time, bound time.Duration) *candidate {
	t := e.t
	t.Helper()
	var next *candidate
	var when time.Time
	waitFor(t, bound+5*time.Second, fmt.Sprintf("round %d %s of %s: another pod labelled", round, kind, old.ident), func() bool {
		l, _, err := e.watch.labelled()
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 1 || strings.HasPrefix(l[0], old.ident+":") {
			return false
		}
		next = e.cand(strings.SplitN(l[0], ":", 2)[0])
		e.watch.mu.Lock()
		when = e.watch.changes[len(e.watch.changes)-1].at
		e.watch.mu.Unlock()
		return next != nil
	})
	d := when.Sub(at)
	e.took[kind] = append(e.took[kind], d)
	e.log = append(e.log, fmt.Sprintf("round %d %s of %s: %s labelled %v later", round, kind, old.ident, next.ident, d.Round(time.Millisecond)))
	if d > bound {
		t.Errorf("round %d %s of %s: %s labelled %v later, want within %v", round, kind, old.ident, next.ident, d, bound)
	}
	return next
}

// crash SIGKILLs the leader's kubelect; once another pod is labelled it is
// started again.
func (e *labelEnv) crash(round int) {
	old := e.leader()
	at := time.Now()
	if err := old.cmd.Process.Kill(); err != nil {
		e.t.Fatal(err)
	}
	e.moved("crash", round, old, at, labelTakeoverBound)
	<-old.done
	e.start(old)
}

// release SIGTERMs the leader's kubelect: it takes its label off, then
// releases the lock; it is started again.
func (e *labelEnv) release(round int) {
	old := e.leader()
	at := time.Now()
	if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		e.t.Fatal(err)
	}
	e.moved("release", round, old, at, labelHandoverBound)
	select {
	case <-old.done:
	case <-time.After(5 * time.Second):
		e.t.Fatalf("kubelect %s has not exited 5s after SIGTERM", old.ident)
	}
	e.start(old)
}

// cut blackholes the leader's proxy until another pod is labelled and a
// lease more has passed (its held requests then reach the server), then
// heals it.
func (e *labelEnv) cut(round int) {
	old := e.leader()
	at := time.Now()
	old.proxy.SetMode(chaos.Blackhole)
	e.moved("cut-off", round, old, at, labelTakeoverBound)
	// The healed ex-leader's held requests (renewals, its label's
	// removal) arrive now: the watch would show a label they brought back.
	old.proxy.SetMode(chaos.Pass)
	if !old.running() {
		e.t.Errorf("kubelect %s exited after its cut-off", old.ident)
		e.start(old)
	}
}

// pause SIGSTOPs the leader's kubelect until another pod is labelled, then
// lets it go on: it finds its leadership over, and its removal of its own
// label (conditional on its term) finds the label gone.
func (e *labelEnv) pause(round int) {
	old := e.leader()
	at := time.Now()
	if err := old.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		e.t.Fatal(err)
	}
	e.moved("pause", round, old, at, labelTakeoverBound)
	if err := old.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		e.t.Fatal(err)
	}
}

// transfer asks "kubelect transfer" to hand the lock to another candidate.
func (e *labelEnv) transfer(round int) {
	old := e.leader()
	var to *candidate
	for i := range e.cands {
		if c := e.cands[(round+i)%len(e.cands)]; c != old {
			to = c
			break
		}
	}
	args := append([]string{"transfer", "--name", e.lock, "-n", e.c.Namespace, "--to", to.ident,
		"--kubeconfig", e.direct, "--timeout", "10s"}, timingArgs()...)
	at := time.Now()
	if out, err := exec.Command(kubelectBin, args...).CombinedOutput(); err != nil {
		e.t.Fatalf("kubelect transfer --to %s: %v\n%s", to.ident, err, out)
	}
	if next := e.moved("transfer", round, old, at, labelHandoverBound); next != to {
		e.t.Errorf("round %d transfer to %s: %s labelled", round, to.ident, next.ident)
	}
}

// lateLabel puts the label back on an earlier leader's pod, as the admin,
// in an older term than the leader's: what a label request held up by the
// network and delivered late leaves. The leader removes it at its next
// check of the pods it took over from.
func (e *labelEnv) lateLabel(round int) time.Duration {
	t := e.t
	leader := e.leader()
	l, _, _ := e.watch.labelled()
	term, _ := strconv.Atoi(strings.SplitN(l[0], ":", 2)[1])
	var victim *candidate
	e.watch.mu.Lock()
	for i := len(e.watch.changes) - 1; i >= 0 && victim == nil; i-- {
		for _, p := range e.watch.changes[i].labelled {
			if c := e.cand(strings.SplitN(p, ":", 2)[0]); c != nil && c != leader {
				victim = c
			}
		}
	}
	e.watch.mu.Unlock()
	if victim == nil {
		t.Fatalf("round %d: no earlier leader to put a late label on", round)
	}
	patch := map[string]any{"metadata": map[string]any{
		"labels":      map[string]string{leaderLabelKey: e.lock},
		"annotations": map[string]string{leaderTermKey: strconv.Itoa(term - 1)},
	}}
	b, _ := json.Marshal(patch)
	e.watch.mu.Lock()
	seen := len(e.watch.changes)
	e.watch.mu.Unlock()
	path := "/api/v1/namespaces/" + e.c.Namespace + "/pods/" + victim.ident
	if code, body := adminPatch(t, e.c, path, b); code != http.StatusOK {
		t.Fatalf("the late label on %s: %d %s", victim.ident, code, body)
	}
	// The watch shows the late label (the leader may remove it at once,
	// if its check comes due: the change is recorded all the same).
	var put time.Time
	waitFor(t, 5*time.Second, "the late label in the watch", func() bool {
		e.watch.mu.Lock()
		defer e.watch.mu.Unlock()
		for _, ch := range e.watch.changes[seen:] {
			if len(ch.labelled) >= 2 {
				put = ch.at
				return true
			}
		}
		return false
	})
	gone := e.watch.waitOnly(t, leader.ident, lateLabelBound+5*time.Second, "the late label removed")
	d := gone.Sub(put)
	e.log = append(e.log, fmt.Sprintf("round %d late label (term %d) on %s: %s removed it %v later", round, term-1, victim.ident, leader.ident, d.Round(time.Millisecond)))
	if d > lateLabelBound {
		t.Errorf("round %d: the late label on %s stayed %v, want at most %v", round, victim.ident, d, lateLabelBound)
	}
	return d
}

// adminPatch sends a merge patch as the cluster admin.
func adminPatch(t *testing.T, c *harness.Cluster, path string, patch []byte) (int, string) {
	t.Helper()
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPatch, c.Host+path, strings.NewReader(string(patch)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	req.Header.Set("Content-Type", "application/merge-patch+json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&sb)
	return resp.StatusCode, sb.String()
}

// TestLeaderLabel runs three "kubelect serve --label-pod" candidates, each
// behind its own fault proxy, with a Pod object for each (no kubelet runs
// them), through rounds (5; KUBELECT_LABEL_ROUNDS overrides) of crashes
// (SIGKILL), releases (SIGTERM), cut-offs (the proxy blackholes), pauses
// (SIGSTOP) and transfers, and reads every change of the pods
// with the admin's watch: never do two pods carry the leader label at
// once, and each fault moves the label within its bound. Then a label put
// back late on an earlier leader's pod (what a request the network held
// up would leave) is removed within a lease duration and a request's
// deadline.
func TestLeaderLabel(t *testing.T) {
	c := need(t)
	const lock = "wrapper-label"
	rounds := 5
	if s := os.Getenv("KUBELECT_LABEL_ROUNDS"); s != "" {
		if rounds, _ = strconv.Atoi(s); rounds < 1 {
			t.Fatalf("KUBELECT_LABEL_ROUNDS=%q", s)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The candidates' ServiceAccount: the election's rules and patch on
	// pods, as deploy/'s Roles have.
	rules := append(append([]harness.Rule(nil), harness.ElectionRules...),
		harness.Rule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"patch"}})
	token, err := c.CreateServiceAccount(ctx, c.Namespace, "labeler", rules)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &labelEnv{t: t, c: c, lock: lock, took: map[string][]time.Duration{},
		direct: writeKubeconfig(t, dir, "direct", c.Host, c.CAFile, token, c.Namespace)}
	e.watch = watchLabels(t, c, lock)
	for _, ident := range []string{"label-a", "label-b", "label-c"} {
		pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": ident},
			"spec": map[string]any{"serviceAccountName": "labeler", "automountServiceAccountToken": false,
				"containers": []any{map[string]any{"name": "c", "image": "busybox"}}}}
		if code, b, err := c.AdminDo(ctx, http.MethodPost, "/api/v1/namespaces/"+c.Namespace+"/pods", pod); err != nil || code != http.StatusCreated {
			t.Fatalf("create the pod %s: %d %s %v", ident, code, b, err)
		}
		p, err := chaos.NewProxy(c.Host, c.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		e.cands = append(e.cands, &candidate{ident: ident, proxy: p, log: filepath.Join(dir, ident+".log"),
			kubeconfig: writeKubeconfig(t, dir, ident, p.URL(), "", token, c.Namespace)})
	}
	t.Cleanup(func() {
		for _, cd := range e.cands {
			if cd.running() {
				_ = cd.cmd.Process.Signal(syscall.SIGTERM)
			}
		}
		for _, cd := range e.cands {
			if cd.done != nil && !poll(5*time.Second, func() bool { return !cd.running() }) {
				_ = cd.cmd.Process.Kill()
				<-cd.done
			}
		}
		if t.Failed() {
			for _, cd := range e.cands {
				t.Logf("--- %s (tail) ---\n%s", cd.log, tail(cd.log, 3000))
			}
			e.watch.mu.Lock()
			for _, ch := range e.watch.changes {
				t.Logf("%s rv %s: %q", ch.at.Format("15:04:05.000000"), ch.rv, ch.labelled)
			}
			e.watch.mu.Unlock()
		}
	})
	began := time.Now()
	for _, cd := range e.cands {
		e.start(cd)
	}
	for round := 1; round <= rounds; round++ {
		e.crash(round)
		e.release(round)
		e.cut(round)
		e.pause(round)
		e.transfer(round)
	}
	faultsEnd := time.Now()
	w := e.watch
	w.mu.Lock()
	twoStates, overlaps := len(w.twoRVs), append([]time.Duration(nil), w.overlaps...)
	changes := len(w.changes)
	w.mu.Unlock()
	var lates []time.Duration
	for round := 1; round <= 2; round++ {
		lates = append(lates, e.lateLabel(round))
	}
	final := e.leader()

	// Across the faults: never two labelled pods, in any stored state.
	if twoStates > 0 {
		t.Errorf("%d stored states with two labelled pods during the faults (stretches %v), want none", twoStates, overlaps)
	}
	longest := time.Duration(0)
	for _, d := range overlaps {
		longest = max(longest, d)
	}
	l, _, _ := w.labelled()
	if len(l) != 1 || !strings.HasPrefix(l[0], final.ident+":") {
		t.Errorf("at the end, labelled %q; want the leader %s alone", l, final.ident)
	}
	t.Logf("%s", lines(e.log))
	t.Logf("SUMMARY kubelect serve --label-pod, 3 candidates, %v/%v/%v, %d rounds of crash (SIGKILL), release (SIGTERM), cut-off (blackhole), "+
		"pause (SIGSTOP) and transfer in %v (%d changes of the labelled pods, read with the admin's watch): stored states with two labelled pods %d, "+
		"longest time two pods carried the label %v; from the fault to the next leader's label (min/p50/max): crash %s, release %s, cut-off %s, "+
		"pause %s, transfer %s (bounds %v, %v); a late label in an older term removed after %s (bound lease + request deadline = %v)",
		leaseDuration, renewDeadline, retryPeriod, rounds, faultsEnd.Sub(began).Round(time.Second), changes, twoStates, longest,
		durations(e.took["crash"]), durations(e.took["release"]), durations(e.took["cut-off"]), durations(e.took["pause"]),
		durations(e.took["transfer"]), labelTakeoverBound, labelHandoverBound, durations(lates), leaseDuration+labelDeadline)
}
