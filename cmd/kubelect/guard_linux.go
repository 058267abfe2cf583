package main

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// monoNow reads CLOCK_MONOTONIC, which every process of the machine shares
// (Go's own monotonic readings count from the process's start), so that a
// deadline kubelect computes means the same instant to the guard. It is the
// clock Go's timers run on, and no one can set it.
func monoNow() time.Duration {
	const clockMonotonic = 1
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		panic("kubelect: clock_gettime(CLOCK_MONOTONIC): " + errno.Error())
	}
	return time.Duration(ts.Nano())
}

// cmdSysProcAttr puts CMD in a process group of its own, and has the kernel
// SIGKILL it when the guard dies.
func cmdSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// processAlive reports whether pid runs (a zombie does not).
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// selfExecutable is the running program, to start as the guard:
// /proc/self/exe is the binary this process runs even when its file has
// since been replaced or deleted (an upgrade in place); without /proc, the
// path it was started from.
func selfExecutable() (string, error) {
	const self = "/proc/self/exe"
	if _, err := os.Stat(self); err == nil {
		return self, nil
	}
	return os.Executable()
}
