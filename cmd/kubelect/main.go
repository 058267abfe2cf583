// Command kubelect runs leader election on Kubernetes for programs not
// written in Go: it runs a command only while it leads (run), shows who
// holds a lock (status), hands leadership over to a chosen candidate
// (transfer) and, as a sidecar, stands for the lock and answers "who
// leads?" over HTTP (serve). Run "kubelect help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newApp().run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
