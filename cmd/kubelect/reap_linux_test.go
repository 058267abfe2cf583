package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// zombie reports whether pid is a zombie, and whether it exists at all.
func zombie(pid int) (isZombie, exists bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false, false
	}
	s := string(b)
	// pid (comm) state ...: comm may hold spaces, the state follows the last ')'.
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z', true
}

// TestRunReapsOrphans makes the test process a child subreaper, as PID 1
// of a container is, and runs a CMD that leaves an orphan behind: with
// --reap, kubelect reaps it once it exits; without, it stays a zombie.
func TestRunReapsOrphans(t *testing.T) {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	for _, reap := range []bool{true, false} {
		t.Run("reap="+strconv.FormatBool(reap), func(t *testing.T) {
			te := newTestEnv(t)
			// The inner shell starts a short sleep and exits: the sleep is
			// orphaned, and this process inherits it.
			stop, code := te.start(t, append(fastTimings, "--name=my-lock", "--reap="+strconv.FormatBool(reap), "--",
				"sh", "-c", `sh -c 'sleep 0.05 & echo "orphan $!"'; exec sleep 1000`)...)
			line := waitLine(t, te.stdout, "orphan ")
			pid, err := strconv.Atoi(strings.TrimPrefix(line, "orphan "))
			if err != nil {
				t.Fatal(line)
			}
			// The orphan exits after 50ms: wait (bounded) until it is a
			// zombie or gone.
			deadline := time.Now().Add(20 * time.Second)
			for {
				z, exists := zombie(pid)
				if reap && !exists {
					break // reaped
				}
				if !reap && z {
					// Without --reap the orphan does become this process's
					// zombie: so with it, "gone" means kubelect reaped it.
					var ws syscall.WaitStatus
					syscall.Wait4(pid, &ws, 0, nil) // tidy up
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("orphan %d: zombie=%v exists=%v after 20s", pid, z, exists)
				}
				time.Sleep(5 * time.Millisecond)
			}
			stop()
			if c := te.exit(t, code); c != 128+15 {
				t.Errorf("exit %d, want 143", c)
			}
		})
	}
}
