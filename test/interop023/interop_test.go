package interop023

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	cgle "k8s.io/client-go/tools/leaderelection"
	cgrl "k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/test/kube/harness"
)

const (
	lease = 4 * time.Second
	renew = 2 * time.Second
	retry = 500 * time.Millisecond
)

var cluster *harness.Cluster

func TestMain(m *testing.M) {
	if os.Getenv("KUBELECT_REAL_API") != "1" {
		fmt.Println("client-go v0.23 interop: skipped (set KUBELECT_REAL_API=1)")
		os.Exit(m.Run())
	}
	klog.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := harness.Start(ctx, harness.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cluster = c
	for k, v := range c.Env() {
		os.Setenv(k, v)
	}
	code := m.Run()
	c.Stop()
	os.Exit(code)
}

// member is one candidate: this library's or client-go's. leading is true
// from OnStartedLeading until it stops acting.
type member struct {
	id      string
	cut     atomic.Bool
	leading func() bool
	started atomic.Bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func (m *member) stop() { m.cancel(); <-m.done }

func ours(t *testing.T, kind, name, id string) *member {
	m := &member{id: id, done: make(chan struct{})}
	cfg, err := k8sapi.InClusterConfigFromDir(cluster.ServiceAccountDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return harness.Cuttable(rt, &m.cut) }
	cfg.WarningHandler = func(string) {}
	client, err := k8sapi.New(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := rl.New(kind, cluster.Namespace, name, client, rl.ResourceLockConfig{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry, ReleaseOnCancel: true,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Callbacks: election.LeaderCallbacks{OnStartedLeading: func(<-chan struct{}) { m.started.Store(true) }, OnStoppedLeading: func() {}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.leading = le.IsLeader
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { defer close(m.done); _ = le.RunContext(ctx) }()
	return m
}

func clientGo(t *testing.T, kind, name, id string) *member {
	m := &member{id: id, done: make(chan struct{})}
	token, err := os.ReadFile(filepath.Join(cluster.ServiceAccountDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host: cluster.Host, BearerToken: string(token),
		TLSClientConfig: rest.TLSClientConfig{CAFile: cluster.CAFile},
		WrapTransport:   func(rt http.RoundTripper) http.RoundTripper { return harness.Cuttable(rt, &m.cut) },
	})
	if err != nil {
		t.Fatal(err)
	}
	lock, err := cgrl.New(kind, cluster.Namespace, name, cs.CoreV1(), cs.CoordinationV1(), cgrl.ResourceLockConfig{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	var leading atomic.Bool
	le, err := cgle.NewLeaderElector(cgle.LeaderElectionConfig{
		Lock: lock, LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry, ReleaseOnCancel: true,
		Callbacks: cgle.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				m.started.Store(true)
				leading.Store(true)
				<-ctx.Done() // cancelled when leadership is lost
				leading.Store(false)
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.leading = leading.Load
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { defer close(m.done); le.Run(ctx) }()
	return m
}

// On the seed's Endpoints lock and on the ConfigMap lock, leadership moves
// between client-go v0.23.17 candidates and this library's both ways, by
// release and by expiry, never with two leaders at once.
func TestInteropAnnotationLocks(t *testing.T) {
	if cluster == nil {
		t.Skip("real API tier is off: set KUBELECT_REAL_API=1")
	}
	for _, kind := range []string{"endpoints", "configmaps"} {
		t.Run(kind, func(t *testing.T) {
			name := fmt.Sprintf("interop023-%s-%d", kind, time.Now().UnixNano()%1e6)
			var mu sync.Mutex
			var members []*member
			add := func(m *member) *member { mu.Lock(); members = append(members, m); mu.Unlock(); return m }
			stopMon, monErr := make(chan struct{}), make(chan error, 1)
			go func() {
				tick := time.NewTicker(5 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stopMon:
						monErr <- nil
						return
					case <-tick.C:
					}
					mu.Lock()
					var leaders []string
					for _, m := range members {
						if m.leading() {
							leaders = append(leaders, m.id)
						}
					}
					mu.Unlock()
					if len(leaders) > 1 {
						monErr <- fmt.Errorf("two leaders at once: %v", leaders)
						return
					}
				}
			}()
			waitLeads := func(m *member, within time.Duration) time.Duration {
				t.Helper()
				from := time.Now()
				for time.Since(from) < within {
					if m.started.Load() && m.leading() {
						return time.Since(from)
					}
					time.Sleep(5 * time.Millisecond)
				}
				t.Fatalf("%s does not lead within %v", m.id, within)
				return 0
			}
			a := add(clientGo(t, kind, name, "client-go-a"))
			waitLeads(a, 10*time.Second)
			b := add(ours(t, kind, name, "kubelect-b"))
			time.Sleep(2 * retry)
			a.stop()
			t.Logf("client-go -> kubelect by release: %v", waitLeads(b, 10*time.Second).Round(time.Millisecond))
			c := add(clientGo(t, kind, name, "client-go-c"))
			time.Sleep(2 * retry)
			b.stop()
			t.Logf("kubelect -> client-go by release: %v", waitLeads(c, 10*time.Second).Round(time.Millisecond))
			d := add(ours(t, kind, name, "kubelect-d"))
			time.Sleep(2 * retry)
			c.cut.Store(true)
			t.Logf("client-go -> kubelect by expiry: %v", waitLeads(d, 3*lease).Round(time.Millisecond))
			e := add(clientGo(t, kind, name, "client-go-e"))
			time.Sleep(2 * retry)
			d.cut.Store(true)
			t.Logf("kubelect -> client-go by expiry: %v", waitLeads(e, 3*lease).Round(time.Millisecond))
			close(stopMon)
			if err := <-monErr; err != nil {
				t.Error(err)
			}
			for _, m := range []*member{c, d, e} {
				m.stop()
			}
		})
	}
}
