package main

import (
	"os"
	"os/exec"
	"strings"
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

// TestMinimalProgramsLinks: the kubelect program links no standard-library
// package that the baseline (net/http, TLS, JSON, slog) does not, but
// runtime/debug (the module's version, for the User-Agent), and neither
// program links the memdiag diagnostics without the build tag. A package
// that comes in (regexp, text/template, math/big...) adds its pages to
// every program's resident memory: it needs a reason, and this list.
func TestMinimalProgramsLinks(t *testing.T) {
	deps := func(pkg string) map[string]bool {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		m := map[string]bool{}
		for _, p := range strings.Fields(string(out)) {
			m[p] = true
		}
		return m
	}
	base, kub := deps("../minimal-baseline"), deps("../minimal-kubelect")
	allowed := map[string]bool{"runtime/debug": true}
	for p := range kub {
		if !strings.Contains(strings.Split(p, "/")[0], ".") && !base[p] && !allowed[p] {
			t.Errorf("minimal-kubelect links %s, which the baseline does not", p)
		}
	}
	for _, m := range []map[string]bool{base, kub} {
		for p := range m {
			if strings.HasSuffix(p, "/memdiag") || p == "runtime/pprof" {
				t.Errorf("a minimal program links %s without -tags memdiag", p)
			}
		}
	}
}
