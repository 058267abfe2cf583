//go:build kubelect_testhooks

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// Built only with -tags kubelect_testhooks, for the real-API tier's wrapper
// tests: SIGUSR1 makes kubelect panic, as a bug would, on a goroutine of
// its own (a panic there ends the process, as an unrecovered panic in any
// of kubelect's goroutines does).
func init() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	go func() {
		<-c
		panic("kubelect_testhooks: SIGUSR1")
	}()
}
