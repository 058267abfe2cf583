// Command candidate-clientgo is candidate-kubelect written with client-go
// v0.37.2's leaderelection: the same flags, lines and trace.
package main

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/kubelect/kubelect/test/kube/cmd/internal/benchcand"
)

func main() {
	rec := benchcand.Start()
	o := benchcand.Flags()
	// What rest.InClusterConfig does, from -sa-dir instead of the fixed
	// path: the host from the environment, the token file read (it fails
	// early when missing) and named, the CA file named.
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		log.Fatal(rest.ErrNotInCluster)
	}
	tokenFile := filepath.Join(o.SADir, "token")
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		log.Fatal(err)
	}
	ns, err := os.ReadFile(filepath.Join(o.SADir, "namespace"))
	if err != nil {
		log.Fatal(err)
	}
	cfg := &rest.Config{
		Host:            "https://" + net.JoinHostPort(host, port),
		BearerToken:     string(token),
		BearerTokenFile: tokenFile,
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(o.SADir, "ca.crt")},
		WrapTransport:   func(rt http.RoundTripper) http.RoundTripper { return rec.Wrap(rt) },
	}
	rec.Mark("config")
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Fatal(err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, strings.TrimSpace(string(ns)), o.Name, cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: o.ID})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: o.Lease, RenewDeadline: o.Renew, RetryPeriod: o.Retry,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				rec.Lead(o.Once)
				if o.Once {
					cancel()
				}
				<-lctx.Done()
				rec.Stop()
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	rec.Mark("client")
	le.Run(ctx)
}
