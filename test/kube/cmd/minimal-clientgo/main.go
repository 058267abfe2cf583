// Command minimal-clientgo is minimal-kubelect written with client-go
// v0.37.2's leaderelection, for comparison of size and memory.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

func main() {
	cfg, err := rest.InClusterConfig()
	// KUBELECT_SA_DIR lets the benchmark run it outside a pod.
	dir := "/var/run/secrets/kubernetes.io/serviceaccount"
	if d := os.Getenv("KUBELECT_SA_DIR"); d != "" {
		dir = d
		cfg, err = &rest.Config{
			Host:            "https://" + os.Getenv("KUBERNETES_SERVICE_HOST") + ":" + os.Getenv("KUBERNETES_SERVICE_PORT"),
			BearerTokenFile: dir + "/token",
			TLSClientConfig: rest.TLSClientConfig{CAFile: dir + "/ca.crt"},
		}, nil
	}
	if err != nil {
		log.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ns, err := os.ReadFile(dir + "/namespace")
	if err != nil {
		log.Fatal(err)
	}
	id, _ := os.Hostname()
	if len(os.Args) > 1 {
		id = os.Args[1]
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, string(ns), "minimal", cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) { log.Print("leading"); <-ctx.Done() },
			OnStoppedLeading: func() { log.Print("stopped leading") },
		},
	})
}
