// Package memdiag is imported, for its side effect, by the minimal
// programs built with -tags memdiag (memfloor -tags memdiag), so that the
// programs measured for BENCHMARKS.md link none of it. With
// KUBELECT_MEMDIAG set to a directory, SIGUSR1 makes the program write
// there, under the name of its first argument: <name>.txt (its
// runtime.MemStats after a GC, and its goroutine count), <name>.heap (a
// heap profile of every allocation since start:
// go tool pprof -sample_index=alloc_space <name>.heap) and
// <name>.goroutines. Profiling every allocation costs memory of its own:
// the resident figures of such a run are not the program's.
package memdiag

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
)

func init() {
	dir := os.Getenv("KUBELECT_MEMDIAG")
	if dir == "" {
		return
	}
	runtime.MemProfileRate = 1
	name := fmt.Sprintf("pid%d", os.Getpid())
	if len(os.Args) > 1 {
		name = strings.TrimLeft(os.Args[1], "-")
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			if err := writeDiag(filepath.Join(dir, name)); err != nil {
				fmt.Fprintln(os.Stderr, "memdiag:", err)
			}
		}
	}()
}

// writeDiag writes the files named prefix.*.
func writeDiag(prefix string) error {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	txt := fmt.Sprintf("goroutines %d\nSys %d\nHeapSys %d\nHeapInuse %d\nHeapIdle %d\nHeapReleased %d\nHeapAlloc %d\n"+
		"StackInuse %d\nStackSys %d\nMSpanSys %d\nMCacheSys %d\nBuckHashSys %d\nGCSys %d\nOtherSys %d\nNumGC %d\n",
		runtime.NumGoroutine(), ms.Sys, ms.HeapSys, ms.HeapInuse, ms.HeapIdle, ms.HeapReleased, ms.HeapAlloc,
		ms.StackInuse, ms.StackSys, ms.MSpanSys, ms.MCacheSys, ms.BuckHashSys, ms.GCSys, ms.OtherSys, ms.NumGC)
	if err := os.WriteFile(prefix+".txt", []byte(txt), 0o644); err != nil {
		return err
	}
	f, err := os.Create(prefix + ".heap")
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	g, err := os.Create(prefix + ".goroutines")
	if err != nil {
		f.Close()
		return err
	}
	_ = pprof.Lookup("goroutine").WriteTo(g, 1)
	g.Close()
	return f.Close()
}
