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

// stopSignal is the cause of the context's end when kubelect got SIGTERM
// or SIGINT, so that run passes that very signal on to CMD.
type stopSignal struct{ sig os.Signal }

func (s *stopSignal) Error() string { return "got " + s.sig.String() }

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	// Caught for the life of the program: a second signal does not kill
	// kubelect while it stops CMD and releases the lock.
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			cancel(&stopSignal{s})
		}
	}()
	code := newApp().run(ctx, os.Args[1:])
	cancel(nil)
	os.Exit(code)
}
