// Command child is the CMD that the wrapper tests run under "kubelect run".
// It stands for the work a leader must do alone, and leaves evidence of
// when it did it:
//
//   - it connects to the test's unix socket and sends its id before doing
//     anything else (and "started" once its start line is written), and
//     keeps the connection open: the test sees the connection end when the
//     process dies, however it dies (SIGKILL included), so the test has an
//     upper bound on its death;
//   - it appends "<id> start <unixnano> term=<T>" to the events file, then
//     "<id> alive <unixnano>" every -tick, and on SIGTERM "<id> stop
//     <unixnano>" and exits; while the -stubborn file exists it writes
//     "<id> term-ignored <unixnano>" instead and carries on, so that only
//     SIGKILL stops it.
//
// Before its start line it takes an exclusive flock(2) of the -lock file,
// which only one live process can hold (the kernel drops it when the
// holder dies, however it dies): when the lock is taken, another child
// still lives, and it writes "<id> lock-busy <unixnano>" after its start
// line, and runs on without the lock. When its parent changes (the process that started it died
// without taking it along) it writes "<id> orphaned <unixnano>" and runs on,
// as a real CMD would.
//
// Each line is one write on an O_APPEND file, so lines of concurrent
// children never mix. The id is "<identity>/<pid>". It exits by itself when
// the test's socket closes, so that no child outlives a test that died.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	events := flag.String("events", "", "the events file to append to")
	sock := flag.String("sock", "", "the test's unix socket")
	stubborn := flag.String("stubborn", "", "while this file exists, SIGTERM is ignored")
	lock := flag.String("lock", "", "the file to flock while alive (none: no lock)")
	tick := flag.Duration("tick", 50*time.Millisecond, "time between two alive lines")
	flag.Parse()

	// Handle SIGTERM from the start: a SIGTERM before the start line then
	// still ends the process, as the default action would.
	terms := make(chan os.Signal, 4)
	signal.Notify(terms, syscall.SIGTERM)
	ppid := os.Getppid()
	id := os.Getenv("KUBELECT_IDENTITY") + "/" + strconv.Itoa(os.Getpid())

	conn, err := net.Dial("unix", *sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	if _, err := fmt.Fprintf(conn, "%s\n", id); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	go func() {
		// The test never writes: EOF means it is gone.
		_, _ = io.Copy(io.Discard, bufio.NewReader(conn))
		os.Exit(3)
	}()

	f, err := os.OpenFile(*events, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	emit := func(event, extra string) {
		line := id + " " + event + " " + strconv.FormatInt(time.Now().UnixNano(), 10)
		if extra != "" {
			line += " " + extra
		}
		if _, err := f.Write([]byte(line + "\n")); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
	}
	busy := false
	if *lock != "" {
		lf, err := os.OpenFile(*lock, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		// lf stays open, and locked, until the process dies.
		busy = syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
	}
	emit("start", "term="+os.Getenv("KUBELECT_TERM"))
	if busy {
		emit("lock-busy", "")
	}
	if _, err := fmt.Fprintf(conn, "started\n"); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}

	t := time.NewTicker(*tick)
	for {
		select {
		case <-terms:
			if _, err := os.Stat(*stubborn); *stubborn != "" && err == nil {
				emit("term-ignored", "")
				continue
			}
			emit("stop", "")
			os.Exit(0)
		case <-t.C:
			if ppid != 0 && os.Getppid() != ppid {
				emit("orphaned", "")
				ppid = 0 // said once
			}
			emit("alive", "")
		}
	}
}
