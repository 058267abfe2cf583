// Command candidate-kubelect is one leader-election candidate with this
// library, as a process of its own, for leaderbench's trade-off curve
// (killed with SIGKILL while it leads) and cold start (-once: start,
// lead, print how long it took, release, exit). It loads the in-cluster
// config from -sa-dir as a pod would, with KUBERNETES_SERVICE_HOST/PORT.
// candidate-clientgo is the same program with client-go v0.37.2.
//
//	LEADERBENCH_T0=$(date +%s%N) candidate-kubelect -sa-dir DIR -name LEASE -id ID -once
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubelect/kubelect/election"
	"github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/test/kube/cmd/internal/benchcand"
)

func main() {
	rec := benchcand.Start()
	o := benchcand.Flags()
	cfg, err := k8sapi.InClusterConfigFromDir(o.SADir)
	if err != nil {
		log.Fatal(err)
	}
	rec.Mark("config")
	cfg.WrapTransport = rec.Wrap
	client, err := k8sapi.New(*cfg)
	if err != nil {
		log.Fatal(err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, cfg.Namespace, o.Name, client, resourcelock.ResourceLockConfig{Identity: o.ID})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: o.Lease, RenewDeadline: o.Renew, RetryPeriod: o.Retry,
		ReleaseOnCancel: true,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				rec.Lead(o.Once)
				if o.Once {
					cancel()
				}
				<-stop
				rec.Stop()
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	rec.Mark("client")
	if err := le.RunContext(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
