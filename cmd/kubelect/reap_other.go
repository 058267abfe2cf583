//go:build !linux

package main

import "context"

// reaper is Linux-only: elsewhere kubelect does not run as a container's
// PID 1, and --reap does nothing.
type reaper struct{}

func startReaper(context.Context) *reaper { return nil }

func (r *reaper) start(startCmd func() (int, error)) error {
	_, err := startCmd()
	return err
}

func (r *reaper) waited() {}

func reapByDefault() bool { return false }
