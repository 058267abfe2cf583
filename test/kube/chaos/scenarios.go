package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"syscall"
	"time"
)

// Scenario is one kind of fault.
type Scenario struct {
	Name string
	// Kind groups scenarios in the report: process, network, server,
	// authorization, lock.
	Kind string
	// Locks are the lock kinds it applies to.
	Locks []string
	// Target says the fault hits the leader only.
	Target bool
	// Timing, when set, replaces the campaign's for this scenario.
	Timing *Timing
	// Unbounded, when set, says why no re-election bound applies.
	Unbounded string
	// Doc says what it does, for the report.
	Doc    string
	inject func(ctx context.Context, r *round, leader *proc) error
}

var allLocks = []string{Leases, Endpoints, ConfigMaps}

// Scenarios are every fault of the campaign.
var Scenarios = []Scenario{
	{Name: "sigkill", Kind: "process", Locks: allLocks, Target: true,
		Doc:    "SIGKILL of the leader; a new process with its identity starts 1s later (a restarted pod)",
		inject: sigkill},
	{Name: "sigstop", Kind: "process", Locks: allLocks, Target: true,
		Doc:    "SIGSTOP of the leader for 1.5 leases, then SIGCONT",
		inject: sigstop},
	{Name: "partition", Kind: "network", Locks: allLocks, Target: true,
		Doc:    "the leader's proxy blackholes (accepts, never answers) for 1.5 leases, then heals",
		inject: proxyMode(Blackhole)},
	{Name: "reset", Kind: "network", Locks: allLocks, Target: true,
		Doc:    "the leader's proxy resets every connection for 1.5 leases",
		inject: proxyMode(Reset)},
	{Name: "delay", Kind: "network", Locks: allLocks, Target: true,
		Doc:    "the leader's proxy delays each request by 0.9 × RequestTimeout ± 20% for 1.5 leases",
		inject: delay},
	{Name: "slow-answers", Kind: "network", Locks: allLocks, Target: true, Timing: &extremeTiming,
		Doc: "extreme but valid timing (LeaseDuration 6s, RenewDeadline 4s, RetryPeriod 3.2s, RequestTimeout 3.6s: issue 8's " +
			"15s/10s/8s/9s scaled by 0.4); the leader's proxy holds the answer to each write 3.5s after kube-apiserver has applied it, for 1.5 leases",
		inject: slowAnswers},
	{Name: "slow-acquire", Kind: "network", Locks: allLocks, Target: true, Timing: &extremeTiming,
		Doc: "the same extreme timing; the leader is killed while one follower's answers to writes are held 3.5s (its acquiring write " +
			"is applied at once, answered late) while the other's requests time out unsent until the first leads: " +
			"the slow one must stop by RenewDeadline after it sent the acquiring write, before the other takes over",
		inject: slowAcquire},
	{Name: "apiserver-restart", Kind: "server", Locks: allLocks,
		Doc:    "kube-apiserver stopped (SIGTERM) and started again",
		inject: func(ctx context.Context, r *round, _ *proc) error { return r.c.Cluster.RestartAPIServer(ctx) }},
	{Name: "etcd-restart", Kind: "server", Locks: allLocks,
		Doc:    "etcd stopped (SIGTERM) and started again, until kube-apiserver is ready",
		inject: func(ctx context.Context, r *round, _ *proc) error { return r.c.Cluster.RestartEtcd(ctx) }},
	{Name: "rbac", Kind: "authorization", Locks: allLocks,
		Doc:    "the candidates' RoleBinding deleted for 1.5 leases, then created again",
		inject: rbac},
	{Name: "lock-deleted", Kind: "lock", Locks: allLocks,
		Doc:    "the lock object deleted under a running leader",
		inject: deleteLock},
	{Name: "garbage-json", Kind: "lock", Locks: []string{Endpoints, ConfigMaps}, Target: true,
		Doc:    "the leader killed (SIGKILL) and the annotation record overwritten with bad JSON: the others must take over",
		inject: garbageJSON},
	{Name: "huge-duration", Kind: "lock", Locks: allLocks, Target: true,
		Doc: "the record rewritten with the leader as holder and leaseDurationSeconds 18446744074 (annotation) or 2147483647 (Lease), " +
			"while the leader's proxy blackholes for 1s (less than RenewDeadline): no one may take over",
		Unbounded: "a record that asks for a longer lease holds the lock for MaxLeaseDuration (1h) once its writer stops renewing",
		inject:    cutAndRewrite(hugeDuration)},
	{Name: "garbage-renewtime", Kind: "lock", Locks: []string{Leases}, Target: true,
		Doc:    "the Lease's renewTime and acquireTime rewritten to 1970-01-01 (holder unchanged) while the leader's proxy blackholes for 1s: no one may take over",
		inject: cutAndRewrite(garbageRenewTime)},
}

// ScenarioNamed finds a scenario.
func ScenarioNamed(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// hold waits out a timed fault.
func (r *round) hold(ctx context.Context) {
	t := time.NewTimer(r.faultFor)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func sigkill(ctx context.Context, r *round, leader *proc) error {
	r.kill(leader)
	time.Sleep(time.Second)
	r.heal = time.Now()
	_, err := r.start(leader.ID, leader.Inst+1, leader.proxy)
	return err
}

func sigstop(ctx context.Context, r *round, leader *proc) error {
	from := time.Now()
	if err := leader.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	leader.paused = true
	r.hold(ctx)
	to := time.Now()
	err := leader.cmd.Process.Signal(syscall.SIGCONT)
	leader.paused = false
	leader.Paused = append(leader.Paused, Window{from, to})
	r.heal = to
	return err
}

func proxyMode(m Mode) func(context.Context, *round, *proc) error {
	return func(ctx context.Context, r *round, leader *proc) error {
		leader.proxy.SetMode(m)
		r.hold(ctx)
		leader.proxy.SetMode(Pass)
		return nil
	}
}

func delay(ctx context.Context, r *round, leader *proc) error {
	rt := r.timing.requestTimeout()
	leader.proxy.SetDelay(rt*9/10, rt/5)
	r.hold(ctx)
	leader.proxy.SetDelay(0, 0)
	return nil
}

// extremeTiming is issue 8's 15s/10s/8s/9s, accepted by validation,
// scaled by 0.4.
var extremeTiming = Timing{Lease: 6 * time.Second, Renew: 4 * time.Second, Retry: 3200 * time.Millisecond, RequestTimeout: 3600 * time.Millisecond}

// slowAnswers delays the leader's answers just under RequestTimeout: a
// leader that sleeps a whole RetryPeriod after a slow renewal passes its
// deadline before it tries again, while the followers count the lease from
// when the server applied the renewal.
func slowAnswers(ctx context.Context, r *round, leader *proc) error {
	leader.proxy.SetAnswerDelay(r.timing.requestTimeout() - 100*time.Millisecond)
	r.hold(ctx)
	leader.proxy.SetAnswerDelay(0)
	return nil
}

// slowAcquire is issue 8 bug 1 on the real server: a candidate whose
// acquiring write is answered late starts leading with little of its
// renew deadline left; if it then sleeps a whole RetryPeriod before it
// checks, it still acts when the lease it wrote expires for the others.
func slowAcquire(ctx context.Context, r *round, leader *proc) error {
	var others []*proc
	for _, p := range r.procs {
		if p != leader && !p.dead {
			others = append(others, p)
		}
	}
	if len(others) < 2 {
		return fmt.Errorf("slow-acquire needs two followers, have %d", len(others))
	}
	slow, late := others[0], others[1]
	slow.proxy.SetAnswerDelay(r.timing.requestTimeout() - 100*time.Millisecond)
	defer slow.proxy.SetAnswerDelay(0)
	late.proxy.SetDelay(2*r.timing.requestTimeout(), 0) // its requests time out unsent
	defer late.proxy.SetDelay(0, 0)
	r.kill(leader)
	start := time.Now()
	for time.Since(start) < 3*r.timing.Lease && ctx.Err() == nil {
		if p, ok := r.leader(); ok {
			if p == slow {
				break
			}
			return nil // the other won the race: nothing more to see
		}
		time.Sleep(20 * time.Millisecond)
	}
	late.proxy.SetDelay(0, 0)
	// Keep the slow one's answers late for 2.5 leases in all.
	time.Sleep(time.Until(start.Add(r.timing.Lease * 5 / 2)))
	return nil
}

func rbac(ctx context.Context, r *round, _ *proc) error {
	cl := r.c.Cluster
	if err := cl.RevokeRoleBinding(ctx, cl.Namespace, cl.ServiceAccount); err != nil {
		return err
	}
	r.hold(ctx)
	return cl.RestoreRoleBinding(ctx, cl.Namespace, cl.ServiceAccount)
}

func deleteLock(ctx context.Context, r *round, _ *proc) error {
	code, body, err := r.c.Cluster.AdminDo(ctx, http.MethodDelete, r.lockPath(), nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK && code != http.StatusAccepted {
		return fmt.Errorf("DELETE %s: %d %s", r.lockPath(), code, body)
	}
	return nil
}

// cutAndRewrite blackholes the leader for 1s, less than RenewDeadline, and
// rewrites the lock meanwhile: a candidate that takes over on the
// rewritten record overlaps the leader, which still leads.
func cutAndRewrite(rewrite func(context.Context, *round, *proc) error) func(context.Context, *round, *proc) error {
	return func(ctx context.Context, r *round, leader *proc) error {
		leader.proxy.SetMode(Blackhole)
		defer leader.proxy.SetMode(Pass)
		cut := time.Now()
		if err := rewrite(ctx, r, leader); err != nil {
			return err
		}
		time.Sleep(time.Second - time.Since(cut))
		return nil
	}
}

func garbageJSON(ctx context.Context, r *round, leader *proc) error {
	r.kill(leader)
	return r.rewriteLock(ctx, func(obj map[string]any) error {
		meta, _ := obj["metadata"].(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		if ann == nil {
			return fmt.Errorf("no annotations on the lock")
		}
		ann[leaderAnnotation] = `{"holderIdentity":"garbage","leaseDurationSeconds":"fifteen",` // cut short
		return nil
	})
}

func hugeDuration(ctx context.Context, r *round, leader *proc) error {
	return r.rewriteLock(ctx, func(obj map[string]any) error {
		if r.run.Lock == Leases {
			spec, _ := obj["spec"].(map[string]any)
			if spec == nil {
				return fmt.Errorf("no spec on the Lease")
			}
			spec["holderIdentity"] = leader.ID
			spec["leaseDurationSeconds"] = json.Number("2147483647")
			return nil
		}
		return editRecord(obj, func(rec map[string]any) {
			rec["holderIdentity"] = leader.ID
			rec["leaseDurationSeconds"] = json.Number("18446744074")
		})
	})
}

func garbageRenewTime(ctx context.Context, r *round, _ *proc) error {
	return r.rewriteLock(ctx, func(obj map[string]any) error {
		spec, _ := obj["spec"].(map[string]any)
		if spec == nil {
			return fmt.Errorf("no spec on the Lease")
		}
		spec["renewTime"] = "1970-01-01T00:00:00.000000Z"
		spec["acquireTime"] = "1970-01-01T00:00:00.000000Z"
		return nil
	})
}

// Plan is every applicable (scenario, lock) pair for each implementation,
// rounds times; client-go v0.37.2 has only the Lease lock.
func Plan(rounds int, impls []string, only map[string]bool) []Run {
	var runs []Run
	for i := 0; i < rounds; i++ {
		for _, impl := range impls {
			for _, sc := range Scenarios {
				if len(only) > 0 && !only[sc.Name] {
					continue
				}
				for _, lock := range sc.Locks {
					if impl == ClientGo && lock != Leases {
						continue
					}
					runs = append(runs, Run{Scenario: sc, Impl: impl, Lock: lock})
				}
			}
		}
	}
	return runs
}

// CIPlan is one round of each scenario for kubelect, the lock kinds
// spread over them, and two client-go rounds (the pause and the
// partition, where it is known to overlap).
func CIPlan() []Run {
	locks := map[string]string{
		"sigkill": Leases, "sigstop": Endpoints, "partition": Leases, "reset": ConfigMaps, "delay": Leases, "slow-answers": Leases, "slow-acquire": Leases,
		"apiserver-restart": Leases, "etcd-restart": Endpoints, "rbac": Leases, "lock-deleted": Leases,
		"garbage-json": Endpoints, "huge-duration": Endpoints, "garbage-renewtime": Leases,
	}
	var runs []Run
	for _, sc := range Scenarios {
		runs = append(runs, Run{Scenario: sc, Impl: Kubelect, Lock: locks[sc.Name]})
	}
	for _, name := range []string{"sigstop", "partition"} {
		sc, _ := ScenarioNamed(name)
		runs = append(runs, Run{Scenario: sc, Impl: ClientGo, Lock: Leases})
	}
	return runs
}
