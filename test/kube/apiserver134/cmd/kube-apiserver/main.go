// Command kube-apiserver is the Kubernetes API server v1.34, the oldest
// minor kubelect claims, built from the Go module proxy for the real-API
// test tier (test/kube/build.sh puts it in $KUBELECT_BIN/v1.34).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
