// Command kubectl is kubectl, built from the Go module proxy at the same
// Kubernetes version as kube-apiserver, for the real-API test tier: the
// kubeconfig tests compare the files they write with what
// "kubectl config" writes.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() {
	os.Exit(cli.Run(cmd.NewDefaultKubectlCommand()))
}
