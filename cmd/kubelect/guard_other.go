//go:build !linux

package main

import (
	"os"
	"syscall"
	"time"
)

// monoNow reads the wall clock: outside Linux the standard library offers
// no monotonic clock that two processes share. A step of the wall clock
// moves the guard's deadline by as much (kubelect's own enforcement is not
// affected).
func monoNow() time.Duration {
	return time.Duration(time.Now().UnixNano())
}

// cmdSysProcAttr puts CMD in a process group of its own. There is no
// parent-death signal outside Linux: a guard killed with SIGKILL leaves CMD
// to kubelect alone.
func cmdSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// processAlive reports whether pid exists (zombies included: there is no
// portable way to tell them apart).
func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// selfExecutable is the running program, to start as the guard.
func selfExecutable() (string, error) { return os.Executable() }
