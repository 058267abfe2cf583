package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// reaper reaps the zombies that kubelect inherits as PID 1 of a container
// (or as a child subreaper): the processes that CMD started and left
// behind, once they exit. It never takes an exit status that another part
// of kubelect waits for: not CMD's (exec.Cmd waits for it), nor that of a
// process in kubelect's own process group (a kubeconfig credential plugin,
// which exec.Cmd waits for too). CMD runs in a process group of its own,
// so what it leaves behind is not in kubelect's.
type reaper struct {
	ownPgid int
	kick    chan struct{}

	mu     sync.Mutex // held while CMD starts, and during each pass
	cmdPid int        // guarded by mu: CMD's pid while exec.Cmd waits for it
}

// startReaper reaps zombies until ctx ends: at each SIGCHLD, when kicked,
// and every few seconds.
func startReaper(ctx context.Context) *reaper {
	r := &reaper{ownPgid: syscall.Getpgrp(), kick: make(chan struct{}, 1)}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	go func() {
		defer signal.Stop(sigs)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sigs:
			case <-r.kick:
			case <-t.C:
			}
			r.pass()
		}
	}()
	return r
}

// start runs startCmd, which starts CMD and returns its pid, so that no
// pass can see CMD's exit before its pid is known.
func (r *reaper) start(startCmd func() (int, error)) error {
	if r == nil {
		_, err := startCmd()
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := startCmd()
	r.cmdPid = pid
	return err
}

// waited tells r that CMD has been waited for, and reaps what is left.
func (r *reaper) waited() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.cmdPid = 0
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// pass reaps zombies until none is left or the next one belongs to
// someone else (it is then reaped by its waiter, and a later pass goes on).
func (r *reaper) pass() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		pid := peekZombie()
		if pid <= 0 || pid == r.cmdPid {
			return
		}
		if pgid, err := syscall.Getpgid(pid); err != nil || pgid == r.ownPgid {
			return
		}
		var ws syscall.WaitStatus
		if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); err != nil || got != pid {
			return
		}
	}
}

// peekZombie returns the pid of a child that has exited, without reaping
// it, or 0 when there is none.
func peekZombie() int {
	const pAll = 0
	const wNoWait = 0x1000000
	// siginfo_t: si_signo, si_errno, si_code, then (on 64-bit, after 4
	// bytes of padding) si_pid; 128 bytes in all.
	var info [128]byte
	_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pAll, 0, uintptr(unsafe.Pointer(&info[0])),
		syscall.WEXITED|syscall.WNOHANG|wNoWait, 0, 0)
	if errno != 0 {
		return 0
	}
	off := 12
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	return int(*(*int32)(unsafe.Pointer(&info[off])))
}

// reapByDefault: PID 1 must reap what it inherits.
func reapByDefault() bool { return os.Getpid() == 1 }
