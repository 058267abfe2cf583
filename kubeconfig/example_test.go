package kubeconfig_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/kubeconfig"
)

// ExampleLoad loads one context of a kubeconfig file, as kubectl
// --kubeconfig=... --context=... would.
func ExampleLoad() {
	cfg, err := kubeconfig.Load(kubeconfig.Options{Path: "testdata/kubectl/token.yaml", Context: "prod"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Host, cfg.TLSServerName, cfg.Namespace)
	// Output: https://203.0.113.10:6443 kubernetes.prod.example ci
}

// ExampleInClusterOrLoad is the start of a program that runs both in a
// pod and from a laptop.
func ExampleInClusterOrLoad() {
	cfg, err := kubeconfig.InClusterOrLoad(kubeconfig.Options{
		Path:       os.Getenv("MY_PROGRAM_KUBECONFIG"), // a --kubeconfig flag
		ExecStderr: os.Stderr,                          // show what exec plugins say
	})
	if err != nil {
		log.Fatal(err)
	}
	client, err := k8sapi.New(*cfg)
	if err != nil {
		log.Fatal(err)
	}
	lease, err := client.Get(context.Background(), k8sapi.Leases, cfg.Namespace, "my-lock")
	if err != nil && !k8sapi.IsNotFound(err) {
		log.Fatal(err)
	}
	_ = lease
}
