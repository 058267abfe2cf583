// Command minimal-kubelect is the smallest useful leader-elected program
// with this library: in-cluster config, a Lease lock, run until SIGTERM.
// It exists to measure binary size and memory against minimal-clientgo.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kubelect/kubelect/election"
	"github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

func main() {
	// KUBELECT_SA_DIR lets the benchmark run it outside a pod.
	dir := k8sapi.ServiceAccountDir
	if d := os.Getenv("KUBELECT_SA_DIR"); d != "" {
		dir = d
	}
	cfg, err := k8sapi.InClusterConfigFromDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	client, err := k8sapi.New(*cfg)
	if err != nil {
		log.Fatal(err)
	}
	id, _ := os.Hostname()
	if len(os.Args) > 1 {
		id = os.Args[1]
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, cfg.Namespace, "minimal", client, resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		log.Fatal(err)
	}
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		ReleaseOnCancel: true,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) { log.Print("leading"); <-stop },
			OnStoppedLeading: func() { log.Print("stopped leading") },
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	_ = le.RunContext(ctx)
}
