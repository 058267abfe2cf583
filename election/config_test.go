package election_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

func validConfig() election.LeaderElectionConfig {
	return election.LeaderElectionConfig{
		Lock:          &memLock{id: "a", store: &memStore{}},
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(<-chan struct{}) {},
			OnStoppedLeading: func() {},
		},
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*election.LeaderElectionConfig)
		want string // in the error
	}{
		{"zero lease", func(c *election.LeaderElectionConfig) { c.LeaseDuration = 0 }, "LeaseDuration must be positive"},
		{"negative renew", func(c *election.LeaderElectionConfig) { c.RenewDeadline = -time.Second }, "RenewDeadline must be positive"},
		{"zero retry", func(c *election.LeaderElectionConfig) { c.RetryPeriod = 0 }, "RetryPeriod must be positive"},
		{"lease equal to renew", func(c *election.LeaderElectionConfig) { c.LeaseDuration = c.RenewDeadline }, "LeaseDuration (10s) must be greater than RenewDeadline (10s)"},
		{"renew not above jittered retry", func(c *election.LeaderElectionConfig) { c.RetryPeriod = 9 * time.Second }, "RenewDeadline (10s) must be greater than JitterFactor*RetryPeriod (10.8s)"},
		{"nil lock", func(c *election.LeaderElectionConfig) { c.Lock = nil }, "Lock must not be nil"},
		{"empty identity", func(c *election.LeaderElectionConfig) { c.Lock = &memLock{store: &memStore{}} }, "identity must not be empty"},
		{"no OnStartedLeading", func(c *election.LeaderElectionConfig) { c.Callbacks.OnStartedLeading = nil }, "OnStartedLeading callback must not be nil"},
		{"no OnStoppedLeading", func(c *election.LeaderElectionConfig) { c.Callbacks.OnStoppedLeading = nil }, "OnStoppedLeading callback must not be nil"},
		{"request timeout too long", func(c *election.LeaderElectionConfig) { c.RequestTimeout = c.RenewDeadline }, "RequestTimeout (10s) must be shorter than RenewDeadline (10s)"},
		{"lease too long", func(c *election.LeaderElectionConfig) { c.LeaseDuration = 2 * time.Hour }, "LeaseDuration (2h0m0s) must not be longer than MaxLeaseDuration (1h0m0s)"},
		// Issue 8, bug 4: on a lock that stores whole seconds a renewal
		// that followers see comes at most once a second.
		{"renew deadline below a second on a coarse lock", func(c *election.LeaderElectionConfig) {
			c.LeaseDuration, c.RenewDeadline, c.RetryPeriod = 2*time.Second, 900*time.Millisecond, 300*time.Millisecond
		}, "RenewDeadline (900ms) must be greater than JitterFactor times the lock's time precision (1.2s)"},
		{"negative grace", func(c *election.LeaderElectionConfig) { c.ReleaseGrace = -1 }, "ReleaseGrace must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			tc.edit(&cfg)
			le, err := election.NewLeaderElector(cfg)
			if err == nil || le != nil {
				t.Fatalf("NewLeaderElector = %v, %v; want an error", le, err)
			}
			if !errors.Is(err, election.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "election: ") {
				t.Errorf("error %q: want ErrInvalidConfig saying %q", err, tc.want)
			}
			defer func() {
				if r := recover(); r == nil {
					t.Error("RunOrDie did not panic on an invalid config")
				}
			}()
			election.RunOrDie(cfg)
		})
	}
}

func TestConfigValid(t *testing.T) {
	cfg := validConfig()
	cfg.Callbacks.OnNewLeader = nil // optional
	if _, err := election.NewLeaderElector(cfg); err != nil {
		t.Fatal(err)
	}
	// A short RenewDeadline gets a request timeout below it.
	cfg.Lock = fineLock{&memLock{id: "a", store: &memStore{}}}
	cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod = 1500*time.Millisecond, time.Second, 100*time.Millisecond
	if _, err := election.NewLeaderElector(cfg); err != nil {
		t.Fatal(err)
	}
}

// TestConfigRejectsUnusableLock: a lock struct literal without a Client,
// or with a name the server would refuse, fails at NewLeaderElector
// instead of in a background goroutine.
func TestConfigRejectsUnusableLock(t *testing.T) {
	meta := rl.ObjectMeta{Namespace: "default", Name: "my-lock"}
	id := rl.ResourceLockConfig{Identity: "a"}
	client, err := k8sapi.New(k8sapi.Config{Host: "http://127.0.0.1:1", BearerToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for name, lock := range map[string]rl.Interface{
		"nil client":     &rl.LeaseLock{LeaseMeta: meta, LockConfig: id},
		"nil client eps": &rl.EndpointsLock{EndpointsMeta: meta, LockConfig: id},
		"slash in name":  &rl.LeaseLock{LeaseMeta: rl.ObjectMeta{Namespace: "default", Name: "a/b"}, Client: client, LockConfig: id},
		"upper case ns":  &rl.ConfigMapLock{ConfigMapMeta: rl.ObjectMeta{Namespace: "Default", Name: "x"}, Client: client, LockConfig: id},
		"multi":          &rl.MultiLock{Primary: &rl.EndpointsLock{EndpointsMeta: meta, Client: client, LockConfig: id}, Secondary: &rl.LeaseLock{LeaseMeta: meta, LockConfig: id}},
	} {
		cfg := validConfig()
		cfg.Lock = lock
		_, err := election.NewLeaderElector(cfg)
		if !errors.Is(err, election.ErrInvalidConfig) || !errors.Is(err, rl.ErrInvalidLock) {
			t.Errorf("%s: NewLeaderElector = %v, want ErrInvalidConfig and ErrInvalidLock", name, err)
		}
	}
	cfg := validConfig()
	cfg.Lock = &rl.LeaseLock{LeaseMeta: meta, Client: client, LockConfig: id}
	if _, err := election.NewLeaderElector(cfg); err != nil {
		t.Errorf("a valid lock: %v", err)
	}
}
