package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubelect/kubelect/election"
	"github.com/kubelect/kubelect/k8sapi"
)

// The label that names the leader's pod, so that a Service can select it,
// and the annotation beside it that says in which term it was set.
const (
	leaderLabel          = "kubelect.io/leader"
	leaderTermAnnotation = "kubelect.io/leader-term"
)

// podNamespaceFile is where a pod reads its namespace: the pod's namespace
// when $POD_NAMESPACE is not set. Tests point it elsewhere.
var podNamespaceFile = filepath.Join(k8sapi.ServiceAccountDir, "namespace")

// maxHolders bounds the other holders a labeler remembers: the pods it
// checks for a leftover label when it takes over, and every lease duration
// while it leads.
const maxHolders = 3

// podLabelHelp is what "kubelect help serve" and "kubelect help run" say of
// --label-pod.
const podLabelHelp = `With --label-pod the leader labels its own pod kubelect.io/leader=NAME (the
lock's name) and annotates it kubelect.io/leader-term=TERM, so that a Service
that selects the label sends its traffic to the leader. The identity must be
the pod's name, $POD_NAME; the pod's namespace is $POD_NAMESPACE, else the
service account's, else the lock's; the Role needs "patch" on pods. A new
leader first takes the label off the pods it saw lead before it (a crashed
or cut-off leader cannot take off its own), then labels its pod; a leader
takes its label off as its leadership ends, within min(retry-period,
(lease-duration - renew-deadline)/2) (2s by default), before it releases the
lock. The label is a routing hint, not a fence, and the Service's endpoints
follow it a moment later. Two pods carry it at once only when a label
request is held up by the network past its deadline (at most
(lease-duration - renew-deadline)/2) and applied late, then for at most
lease-duration + that deadline after it lands (the leader checks the pods it
took over from every lease-duration); when the new leader never saw the
previous holder lead; or when a process is paused between checking its
leadership and sending the label.`

// podLabelFlags is --label-pod, for "kubelect serve" and "kubelect run".
type podLabelFlags struct{ on bool }

func (f *podLabelFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "label-pod", false, "label this pod "+leaderLabel+"=NAME while it leads, for a Service that selects the leader "+
		"(the identity must be $POD_NAME; needs patch on pods)")
}

// podLabeler puts the leader label on this candidate's pod while it leads
// and takes it off the pods of earlier leaders. A nil *podLabeler does
// nothing: its methods are safe to call when --label-pod is off.
//
// Why two pods do not carry the label at once: a leader sends its label
// request only while it leads, with a deadline of timeout, at most
// (lease-duration − renew-deadline)/2. It leads at most renew-deadline
// after it sent its last successful renewal; another candidate takes the
// lock no sooner than lease-duration after it saw that renewal. So a
// request applied within its deadline is applied before the next leader
// can take the lock (with half the margin left for clock rate skew), and
// the next leader checks the pods it saw lead, removes a label older than
// its term, and only then labels its own pod. What remains: a request the
// network holds past its deadline and delivers later (the leader checks
// the pods it took over from every lease-duration, so such a label lasts
// at most lease-duration + timeout after it lands), a previous holder this
// candidate never saw lead (it started after that holder released the
// lock, and that holder failed to remove its own label within endBudget),
// and a process paused between its check of its leadership and its send.
type podLabeler struct {
	client    *k8sapi.Client
	log       *slog.Logger
	namespace string        // the pods'
	pod       string        // this candidate's pod, its identity
	lock      string        // the label's value: the lock's name
	timeout   time.Duration // bounds each request
	endBudget time.Duration // bounds the removal once the leadership ended
	retry     time.Duration // the first wait after a failure; it doubles up to recheck
	recheck   time.Duration // how often a leader checks the pods it took over from

	mu      sync.Mutex
	wired   bool          // guarded by mu: onNewLeader's callback is in use
	last    string        // guarded by mu: the last holder reported
	holders []string      // guarded by mu: the other holders reported, latest last
	changed chan struct{} // guarded by mu: closed and replaced at each report
}

// podLabeler returns the labeler of --label-pod for the command's
// candidate, nil when the flag is off, or a usage error when the identity is
// not the pod's name or the lock's name cannot be a label value.
func (a *app) podLabeler(e *env, c *commonFlags, f *podLabelFlags) (*podLabeler, error) {
	if !f.on {
		return nil, nil
	}
	pod := a.getenv("POD_NAME")
	switch {
	case pod == "":
		return nil, usagef("--label-pod needs $POD_NAME, the pod's name (from the downward API's metadata.name)")
	case e.identity != pod:
		return nil, usagef("--label-pod: the identity %q is not $POD_NAME %q: the holders of the lock must name their pods", e.identity, pod)
	}
	if err := k8sapi.ValidateName(pod); err != nil {
		return nil, usagef("--label-pod: $POD_NAME is not a pod's name: %v", err)
	}
	if err := checkLabelValue(c.name); err != nil {
		return nil, usagef("--label-pod: --name %q cannot be the value of the label %s: %v", c.name, leaderLabel, err)
	}
	ns := a.getenv("POD_NAMESPACE")
	if ns == "" {
		if b, err := os.ReadFile(podNamespaceFile); err == nil {
			ns = strings.TrimSpace(string(b))
		}
	}
	if ns == "" {
		ns = e.namespace
	}
	if err := k8sapi.ValidateNamespace(ns); err != nil {
		return nil, usagef("--label-pod: the pod's namespace: %v", err)
	}
	timeout := min((c.leaseDuration-c.renewDeadline)/2, max(time.Second, c.renewDeadline/2))
	return &podLabeler{
		client: e.client, log: e.log.With("pod", ns+"/"+pod), namespace: ns, pod: pod, lock: c.name,
		timeout: timeout, endBudget: min(timeout, c.retryPeriod), retry: c.retryPeriod, recheck: c.leaseDuration,
		changed: make(chan struct{}),
	}, nil
}

// checkLabelValue checks s as Kubernetes checks a label value: at most 63
// characters, alphanumeric at both ends, '-', '_' and '.' between.
func checkLabelValue(s string) error {
	if len(s) > 63 {
		return fmt.Errorf("%d characters, more than 63", len(s))
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && ((c != '-' && c != '_' && c != '.') || i == 0 || i == len(s)-1) {
			return errors.New("a label value starts and ends with a letter or digit, with only letters, digits, '-', '_' and '.' between")
		}
	}
	return nil
}

// onNewLeader returns the callback for LeaderCallbacks.OnNewLeader that
// tells the labeler who holds the lock (nil when p is nil). The holders it
// reports, other than this candidate, are the pods whose label the
// labeler removes when it takes over.
func (p *podLabeler) onNewLeader() func(identity string) {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.wired = true
	p.mu.Unlock()
	return p.observe
}

func (p *podLabeler) observe(identity string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = identity
	if identity != p.pod {
		p.holders = append(slices.DeleteFunc(p.holders, func(h string) bool { return h == identity }), identity)
		if len(p.holders) > maxHolders {
			p.holders = p.holders[len(p.holders)-maxHolders:]
		}
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// lead labels this candidate's pod for the leadership that stop ends and
// returns a function that waits until the label is off again. Call it first
// thing in OnStartedLeading and the function before OnStartedLeading
// returns: defer p.lead(le, stop)(). The labelling runs beside the leader's
// work and never holds it up; the removal starts when stop closes (or the
// function is called, whichever comes first) and takes at most
// min(retry-period, (lease-duration − renew-deadline)/2). The elector
// releases the lock only after OnStartedLeading has returned, so that the
// next leader finds the label gone. A nil labeler does nothing.
func (p *podLabeler) lead(le *election.LeaderElector, stop <-chan struct{}) (wait func()) {
	if p == nil {
		return func() {}
	}
	term, leading := le.Term()
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if leading {
			p.leadTerm(term, stop, quit)
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// leadTerm labels the pod in term until stop or quit closes, then removes
// the label.
func (p *podLabeler) leadTerm(term int, stop, quit <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-stop:
		case <-quit:
		case <-ctx.Done():
		}
		cancel()
	}()
	labelled := p.label(ctx, term)
	cancel()
	if labelled {
		p.unlabel(term)
	}
}

// label labels the pod once the pods of earlier holders are without the
// label, then checks those again every recheck and at each new report,
// until ctx ends. It reports whether a label request was sent.
func (p *podLabeler) label(ctx context.Context, term int) bool {
	// The elector reports this candidate as the holder before it calls
	// OnStartedLeading, after the holders it saw before: once that report
	// is here, so are theirs.
	for {
		p.mu.Lock()
		synced, changed := !p.wired || p.last == p.pod, p.changed
		p.mu.Unlock()
		if synced {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
	backoff := p.retry
	for {
		err := p.clearHolders(ctx, term)
		if err == nil {
			break
		}
		p.log.Warn("leader label: cannot check the pods of earlier holders; this pod is labelled only once they are checked", "term", term, "err", err)
		if !p.sleep(ctx, &backoff) {
			return false
		}
	}
	backoff = p.retry
	for {
		err := p.patch(ctx, p.pod, k8sapi.MergePatch, p.labelPatch(term))
		if err == nil {
			p.log.Info("leader label set", "label", leaderLabel+"="+p.lock, "term", term)
			break
		}
		p.log.Warn("leader label: cannot label this pod", "term", term, "err", err)
		if !p.sleep(ctx, &backoff) {
			return true // the request may have been applied
		}
	}
	for {
		p.mu.Lock()
		changed := p.changed
		p.mu.Unlock()
		t := time.NewTimer(p.recheck)
		select {
		case <-ctx.Done():
			t.Stop()
			return true
		case <-t.C:
		case <-changed:
			t.Stop()
		}
		if err := p.clearHolders(ctx, term); err != nil && ctx.Err() == nil {
			p.log.Warn("leader label: cannot check the pods of earlier holders", "term", term, "err", err)
		}
	}
}

// sleep waits *backoff with jitter, then doubles it up to recheck; false
// when ctx ended first.
func (p *podLabeler) sleep(ctx context.Context, backoff *time.Duration) bool {
	d := *backoff + time.Duration(rand.Int64N(int64(*backoff)/2+1))
	*backoff = min(2**backoff, max(p.recheck, p.retry))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// unlabel removes the label this candidate set in term, within endBudget.
// The removal is conditional on the term, so that a late one never takes
// off a label of a later leadership of this pod.
func (p *podLabeler) unlabel(term int) {
	ctx, cancel := context.WithTimeout(context.Background(), p.endBudget)
	defer cancel()
	patch := p.removePatch(jsonTest("/metadata/annotations/"+escapePointer(leaderTermAnnotation), strconv.Itoa(term)), true)
	backoff := 25 * time.Millisecond
	for {
		err := p.patch(ctx, p.pod, k8sapi.JSONPatch, patch)
		switch {
		case err == nil:
			p.log.Info("leader label removed", "term", term)
			return
		case k8sapi.IsInvalid(err) || k8sapi.IsNotFound(err):
			return // not there: the next leader, or someone else, removed it
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
			backoff *= 2
		case <-ctx.Done():
			t.Stop()
			p.log.Warn("leader label: cannot remove it from this pod; the next leader will", "term", term, "within", p.endBudget, "err", err)
			return
		}
	}
}

// clearHolders removes the label from the pods of the other holders
// reported, where it was set in a term before term, and returns an error
// when a pod could not be checked.
func (p *podLabeler) clearHolders(ctx context.Context, term int) error {
	p.mu.Lock()
	holders := slices.Clone(p.holders)
	p.mu.Unlock()
	errs := make([]error, len(holders))
	var wg sync.WaitGroup
	for i, h := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.clearPod(ctx, h, term)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// clearPod takes the label off the pod name if it was set there for this
// lock in a term before term: it reads the pod (a JSON Patch of a single
// "test", which needs no more than patch and writes nothing), then
// removes the label on the condition that it is still the one read. A pod
// that is gone, or whose name cannot be a pod's, has no label.
func (p *podLabeler) clearPod(ctx context.Context, name string, term int) error {
	has := jsonPatch(jsonTest("/metadata/labels/"+escapePointer(leaderLabel), p.lock))
	for range 3 {
		obj, err := p.read(ctx, name, has)
		switch {
		case err != nil:
			return fmt.Errorf("pod %s: %w", name, err)
		case obj == nil:
			return nil
		}
		var cond jsonPatchOp
		t, ok := obj.Annotations()[leaderTermAnnotation]
		n, err := strconv.Atoi(t)
		switch {
		case ok && err == nil && n >= term:
			return nil // as new as this leadership, or newer: not ours to remove
		case ok && err == nil:
			cond = jsonTest("/metadata/annotations/"+escapePointer(leaderTermAnnotation), t)
		default:
			cond = jsonTest("/metadata/resourceVersion", obj.ResourceVersion())
		}
		err = p.patch(ctx, name, k8sapi.JSONPatch, p.removePatch(cond, ok))
		switch {
		case err == nil:
			p.log.Info("leader label removed from an earlier holder's pod", "holder", name, "itsTerm", t, "term", term)
			return nil
		case k8sapi.IsNotFound(err):
			return nil
		case !k8sapi.IsInvalid(err):
			return fmt.Errorf("pod %s: %w", name, err)
		}
		// The pod changed since it was read: read it again.
	}
	return fmt.Errorf("pod %s: its leader label changed under every try to remove it", name)
}

// read returns the pod name if the JSON Patch has, a test, holds on it;
// nil when it does not hold or the pod is not there.
func (p *podLabeler) read(ctx context.Context, name string, has []byte) (*k8sapi.Object, error) {
	rctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	obj, err := p.client.Patch(rctx, k8sapi.Pods, p.namespace, name, k8sapi.JSONPatch, has)
	if k8sapi.IsInvalid(err) || k8sapi.IsNotFound(err) || errors.Is(err, k8sapi.ErrInvalidName) {
		return nil, nil
	}
	return obj, err
}

// patch sends one patch of the pod name, bounded by the request deadline.
func (p *podLabeler) patch(ctx context.Context, name string, pt k8sapi.PatchType, patch []byte) error {
	rctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	_, err := p.client.Patch(rctx, k8sapi.Pods, p.namespace, name, pt, patch)
	return err
}

// labelPatch sets the label and the term annotation.
func (p *podLabeler) labelPatch(term int) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"labels":      map[string]string{leaderLabel: p.lock},
		"annotations": map[string]string{leaderTermAnnotation: strconv.Itoa(term)},
	}})
	return b
}

// removePatch removes the label (and the term annotation when withTerm),
// on the conditions that the label is this lock's and that cond holds.
func (p *podLabeler) removePatch(cond jsonPatchOp, withTerm bool) []byte {
	ops := []jsonPatchOp{jsonTest("/metadata/labels/"+escapePointer(leaderLabel), p.lock), cond,
		{Op: "remove", Path: "/metadata/labels/" + escapePointer(leaderLabel)}}
	if withTerm {
		ops = append(ops, jsonPatchOp{Op: "remove", Path: "/metadata/annotations/" + escapePointer(leaderTermAnnotation)})
	}
	return jsonPatch(ops...)
}

// jsonPatchOp is one operation of a JSON Patch.
type jsonPatchOp struct {
	Op    string  `json:"op"`
	Path  string  `json:"path"`
	Value *string `json:"value,omitempty"`
}

func jsonTest(path, value string) jsonPatchOp {
	return jsonPatchOp{Op: "test", Path: path, Value: &value}
}

func jsonPatch(ops ...jsonPatchOp) []byte {
	b, _ := json.Marshal(ops)
	return b
}

// escapePointer escapes a key for a JSON Pointer (RFC 6901).
func escapePointer(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}
