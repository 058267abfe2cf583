package main

import (
	"syscall"
	"time"

	"github.com/kubelect/kubelect/election"
)

// The assumptions behind the kill bound.
const (
	// maxClockRateSkew is the largest difference in clock rate between
	// two candidates that the kill bound allows for (1%: far more than
	// NTP-disciplined clocks drift).
	maxClockRateSkew = 0.01
	// killReapMargin is left for SIGKILL to take effect and for CMD's
	// exit to be reaped.
	killReapMargin = 250 * time.Millisecond
)

// maxKillAfter is the longest a leader may wait, on its own clock, between
// its stop closing and SIGKILL, so that CMD is dead before another
// candidate can take the lock.
//
// The leader's stop closes at the latest renewDeadline after it sent its
// last successful renewal; another candidate takes the lock no sooner than
// leaseDuration after it saw that renewal, which is after it was sent.
// With clock rates differing by up to maxClockRateSkew, the leader's
// renewDeadline+killAfter may last up to (1+ρ) times as long in real time,
// and the other's leaseDuration as little as (1−ρ) times; so
//
//	(renewDeadline + killAfter)·(1+ρ) + killReapMargin ≤ leaseDuration·(1−ρ)
//
// which is satisfied by the bound below. It is negative when the timings
// leave no room to stop CMD.
func maxKillAfter(leaseDuration, renewDeadline time.Duration) time.Duration {
	ld := float64(leaseDuration) * (1 - maxClockRateSkew) / (1 + maxClockRateSkew)
	return time.Duration(ld) - renewDeadline - killReapMargin
}

// defaultKillAfter is half of maxKillAfter, rounded down to 10ms.
func defaultKillAfter(leaseDuration, renewDeadline time.Duration) time.Duration {
	b := maxKillAfter(leaseDuration, renewDeadline)
	if b <= 0 {
		return 0
	}
	return (b / 2).Truncate(10 * time.Millisecond)
}

// checkKillAfter returns killAfter, or its default when unset, or a usage
// error when it is not safe with the timings.
func checkKillAfter(killAfter *time.Duration, leaseDuration, renewDeadline time.Duration) (time.Duration, error) {
	limit := maxKillAfter(leaseDuration, renewDeadline)
	if limit < 0 {
		return 0, usagef("--lease-duration %s leaves no time to stop CMD after --renew-deadline %s: "+
			"it must be at least (renew-deadline + %s) × %.4f", leaseDuration, renewDeadline, killReapMargin,
			(1+maxClockRateSkew)/(1-maxClockRateSkew))
	}
	if killAfter == nil {
		return defaultKillAfter(leaseDuration, renewDeadline), nil
	}
	switch {
	case *killAfter < 0:
		return 0, usagef("--kill-after %s is negative", *killAfter)
	case *killAfter > limit:
		return 0, usagef("--kill-after %s is not safe: with --lease-duration %s and --renew-deadline %s, CMD must get SIGKILL "+
			"within %s of losing leadership, so that it is dead before another candidate can take the lock", *killAfter, leaseDuration, renewDeadline, limit)
	}
	return *killAfter, nil
}

// stopCMD is the kill path, the same for kubelect and for its guard: it
// sends sig through signal and, unless exited closes within killAfter by
// clock, SIGKILL. It reports whether SIGKILL was sent; the caller logs,
// after the signals are sent.
func stopCMD(clock election.Clock, signal func(syscall.Signal), sig syscall.Signal, killAfter time.Duration, exited <-chan struct{}) (killed bool) {
	signal(sig)
	t := clock.NewTimer(killAfter)
	defer t.Stop()
	select {
	case <-exited:
		return false
	case <-t.C():
		signal(syscall.SIGKILL)
		return true
	}
}

// signalGroup sends sig to the process group pgid.
func signalGroup(pgid int, sig syscall.Signal) {
	_ = syscall.Kill(-pgid, sig)
}
