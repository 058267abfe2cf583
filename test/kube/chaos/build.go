package chaos

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

// BuildCandidate builds cmd/chaoscandidate of the module in moduleDir
// (test/kube) into out, against the library in the working tree.
func BuildCandidate(ctx context.Context, moduleDir, out string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/chaoscandidate")
	cmd.Dir = moduleDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chaos: build the candidate in %s: %w\n%s", filepath.Clean(moduleDir), err, b)
	}
	return nil
}

// RunAll runs the rounds in order; it stops early when ctx ends.
func (c *Campaign) RunAll(ctx context.Context, runs []Run) []*Result {
	var out []*Result
	for i, run := range runs {
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		res := c.Round(ctx, run)
		out = append(out, res)
		status := "ok"
		if len(res.Violations) > 0 {
			status = fmt.Sprintf("%d violation(s)", len(res.Violations))
		}
		c.logf("round %d/%d %s %s on %s: %s in %v (takeover %s, re-election %s, leaderships %d)",
			i+1, len(runs), run.Impl, run.Scenario.Name, run.Lock, status, time.Since(start).Round(100*time.Millisecond),
			orNone(res.Findings.Takeover), orNone(res.Findings.Reelect), res.Findings.Leaderships)
		for _, v := range res.Violations {
			c.logf("  %s", v)
		}
		for _, v := range res.Excused {
			c.logf("  on a slow server (kube-apiserver answered in up to %v): %s", res.SlowServer.Round(time.Millisecond), v)
		}
	}
	return out
}

// orNone prints a duration, or "none" for -1.
func orNone(d time.Duration) string {
	if d < 0 {
		return "none"
	}
	return d.Round(time.Millisecond).String()
}
