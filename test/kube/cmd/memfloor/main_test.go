package main

import (
	"os"
	"testing"
)

func TestMedianAndAbove(t *testing.T) {
	ms := []mem{{100, 10, 90}, {300, 30, 70}, {200, 50, 80}}
	if got, want := median(ms), (mem{200, 30, 80}); got != want {
		t.Errorf("median %v, want %v (each field on its own)", got, want)
	}
	if got, want := above(mem{2048, 1024, 1024}, mem{1024, 1024, 0}), "+1.00 MiB (anon +0.00, file +1.00)"; got != want {
		t.Errorf("above: %q, want %q", got, want)
	}
}

func TestStatusOfThisProcess(t *testing.T) {
	m, err := status(os.Getpid())
	if err != nil {
		t.Skip("no /proc here:", err)
	}
	if m.rss == 0 || m.rss < m.anon || m.rss < m.file {
		t.Errorf("own status %+v: VmRSS is RssAnon + RssFile + RssShmem", m)
	}
}
