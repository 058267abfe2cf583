package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kubelect/kubelect/election"
	"github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// The identities of the two processes: the follower waits until every
// lock names the leader.
const (
	leaderID   = "manylocks-leader"
	followerID = "manylocks-follower"
)

// runChild is the measured process: n electors on one client, each on the
// Lease prefix-i, as role; it reports its figures on stdout once all are
// in place and then at each "measure" line on stdin, and stops its
// electors (which release their locks) when stdin closes.
func runChild(role string, n int, prefix string, t timing) error {
	dir := os.Getenv("KUBELECT_SA_DIR")
	cfg, err := k8sapi.InClusterConfigFromDir(dir)
	if err != nil {
		return err
	}
	client, err := k8sapi.New(*cfg)
	if err != nil {
		return err
	}
	id := leaderID
	if role == "follower" {
		id = followerID
	} else if role != "leader" {
		return fmt.Errorf("unknown role %q", role)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	electors := make([]*election.LeaderElector, n)
	done := make(chan struct{}, n)
	for i := range electors {
		lock, err := resourcelock.New(resourcelock.LeasesResourceLock, cfg.Namespace, prefix+"-"+strconv.Itoa(i), client,
			resourcelock.ResourceLockConfig{Identity: id})
		if err != nil {
			return err
		}
		le, err := election.NewLeaderElector(election.LeaderElectionConfig{
			Lock: lock, LeaseDuration: t.lease, RenewDeadline: t.renew, RetryPeriod: t.retry,
			ReleaseOnCancel: true, Logger: logger,
			Callbacks: election.LeaderCallbacks{
				OnStartedLeading: func(stop <-chan struct{}) { <-stop },
				OnStoppedLeading: func() {},
			},
		})
		if err != nil {
			return err
		}
		electors[i] = le
		go func() {
			_ = le.Stand(ctx)
			done <- struct{}{}
		}()
	}
	if n == 0 {
		// The floor: the client with its connection made, no election.
		lock, err := resourcelock.New(resourcelock.LeasesResourceLock, cfg.Namespace, prefix, client, resourcelock.ResourceLockConfig{Identity: id})
		if err != nil {
			return err
		}
		if _, _, err := lock.Get(ctx); err != nil && !k8sapi.IsNotFound(err) {
			return fmt.Errorf("first request: %w", err)
		}
	}
	ready := func() int {
		k := 0
		for _, le := range electors {
			if (role == "leader" && le.IsLeader()) || (role == "follower" && le.GetLeader() == leaderID) {
				k++
			}
		}
		return k
	}
	// On an overloaded machine some electors may never get there: the
	// figures then say how many did (ready), rather than none at all.
	deadline := time.Now().Add(3 * time.Minute)
	for ready() < n && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if k := ready(); k < n {
		fmt.Fprintf(os.Stderr, "manylocks child: only %d of %d electors %s after 3 minutes; measuring anyway\n", k, n, role)
	}
	out := json.NewEncoder(os.Stdout)
	report := func() error {
		s, err := measureSelf(cfg.Host)
		if err != nil {
			return err
		}
		s.N, s.Ready = n, ready()
		return out.Encode(s)
	}
	if err := report(); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if err := report(); err != nil {
			return err
		}
	}
	cancel()
	for range n {
		<-done
	}
	return nil
}

// measureSelf reads this process's figures, after a collection.
func measureSelf(host string) (stats, error) {
	runtime.GC()
	var s stats
	st, err := procStatus("/proc/self/status")
	if err != nil {
		return s, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.VmRSS, s.RssAnon = st["VmRSS"], st["RssAnon"]
	s.HeapInuse, s.StackInuse = int(ms.HeapInuse>>10), int(ms.StackInuse>>10)
	s.Goroutines = runtime.NumGoroutine()
	s.Conns, err = connsTo(host)
	return s, err
}

// connsTo counts this process's established TCP connections to host's
// port: its socket inodes (from /proc/self/fd) matched against
// /proc/self/net/tcp and tcp6, which list the whole network namespace.
func connsTo(host string) (int, error) {
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return 0, fmt.Errorf("no port in %q", host)
	}
	port, err := strconv.Atoi(strings.TrimSuffix(host[i+1:], "/"))
	if err != nil {
		return 0, fmt.Errorf("port of %q: %w", host, err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	wantPort := fmt.Sprintf(":%04X", port)
	count := 0
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			x := strings.Fields(line)
			if len(x) < 10 {
				continue
			}
			if strings.HasSuffix(x[2], wantPort) && x[3] == "01" && mine[x[9]] {
				count++
			}
		}
	}
	return count, nil
}
