package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// report writes the figures as Markdown tables: per process, and per
// election above the N=0 process.
func report(w io.Writer, base stats, rows []row, settle, window time.Duration, timingFlag string) {
	host, _ := os.Hostname()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "## Many locks in one process\n\n")
	fmt.Fprintf(w, "N electors, each on its own Lease, sharing one k8sapi client; timings %s (LeaseDuration/RenewDeadline/RetryPeriod). "+
		"Each N runs a process that leads all N, then a second process whose N electors follow them. "+
		"Figures are read %v after every elector is in place; the API server's over a %v window. "+
		"Machine: %s, %d CPUs, %s; load average at the end %s.\n\n",
		timingFlag, settle, window, host, runtime.NumCPU(), runtime.Version(), strings.TrimSpace(string(load)))
	fmt.Fprintf(w, "The N=0 process (client made, one request sent): VmRSS %d KiB, RssAnon %d KiB, heap %d KiB, stacks %d KiB, %d goroutines, %d connections.\n\n",
		base.VmRSS, base.RssAnon, base.HeapInuse, base.StackInuse, base.Goroutines, base.Conns)
	fmt.Fprintln(w, "| role | N (in place) | VmRSS KiB | RssAnon KiB | heap+stack KiB | goroutines | TCP conns | VmRSS/election KiB | RssAnon/election KiB | heap+stack/election KiB | goroutines/election |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, role := range []string{"leader", "follower"} {
		for _, r := range rows {
			s := r.leader
			if role == "follower" {
				s = r.follower
			}
			per := func(v, b int) string { return fmt.Sprintf("%.1f", float64(v-b)/float64(r.n)) }
			fmt.Fprintf(w, "| %s | %d (%d) | %d | %d | %d | %d | %d | %s | %s | %s | %s |\n", role, r.n, s.Ready,
				s.VmRSS, s.RssAnon, s.HeapInuse+s.StackInuse, s.Goroutines, s.Conns,
				per(s.VmRSS, base.VmRSS), per(s.RssAnon, base.RssAnon),
				per(s.HeapInuse+s.StackInuse, base.HeapInuse+base.StackInuse), per(s.Goroutines, base.Goroutines))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "API server (kube-apiserver's own CPU and VmRSS from /proc; requests and open watches on leases from /metrics):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| N | leader alone: CPU s/min | requests/min | watches | VmRSS MiB | with followers: CPU s/min | requests/min | watches | VmRSS MiB | per follower: CPU ms/min | requests/min | KiB |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		n := float64(r.n)
		fmt.Fprintf(w, "| %d | %.2f | %.0f | %.0f | %.0f | %.2f | %.0f | %.0f | %.0f | %.1f | %.2f | %.1f |\n", r.n,
			r.alone.cpu, r.alone.requests, r.aloneWatch, float64(r.aloneRSS)/1024,
			r.both.cpu, r.both.requests, r.bothWatch, float64(r.bothRSS)/1024,
			1000*(r.both.cpu-r.alone.cpu)/n, (r.both.requests-r.alone.requests)/n, float64(r.bothRSS-r.aloneRSS)/n)
	}
	fmt.Fprintln(w)
}
