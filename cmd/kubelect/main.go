// Command kubelect runs leader election on Kubernetes for programs not
// written in Go: it runs a command only while it leads (run), shows who
// holds a lock (status), hands leadership over to a chosen candidate
// (transfer) and, as a sidecar, stands for the lock and answers "who
// leads?" over HTTP (serve). Run "kubelect help".
package main

import (
	"context"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == guardCommand {
		os.Exit(guardMain(os.Args[2:], os.Stderr))
	}
	os.Exit(newApp().run(context.Background(), os.Args[1:]))
}
