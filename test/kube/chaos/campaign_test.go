package chaos

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// TestCampaign runs the CI-sized campaign (CIPlan) against a real
// kube-apiserver: it fails on any kubelect invariant violation and reports
// client-go's figures. It needs KUBELECT_REAL_API=1 and KUBELECT_CHAOS=1
// (test/kube/run.sh sets both); KUBELECT_CHAOS_LOGS keeps the logs there.
func TestCampaign(t *testing.T) {
	if os.Getenv("KUBELECT_REAL_API") != "1" || os.Getenv("KUBELECT_CHAOS") != "1" {
		t.Skip("the real-server chaos campaign: set KUBELECT_REAL_API=1 and KUBELECT_CHAOS=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 18*time.Minute)
	defer cancel()
	start := time.Now()
	bin := filepath.Join(t.TempDir(), "chaoscandidate")
	if err := BuildCandidate(ctx, "..", bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("candidate built in %v", time.Since(start).Round(time.Second))
	cl, err := harness.Start(ctx, harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Stop()
	logs := os.Getenv("KUBELECT_CHAOS_LOGS")
	keep := logs != ""
	if !keep {
		if logs, err = os.MkdirTemp("", "kubelect-chaos-"); err != nil {
			t.Fatal(err)
		}
	}
	c := &Campaign{Cluster: cl, Binary: bin, Dir: logs, Timing: DefaultTiming, Logf: t.Logf}
	results := c.RunAll(ctx, CIPlan())
	t.Log("\n" + Markdown(results, c, time.Since(start), "test/kube/run.sh (TestCampaign)"))
	for _, r := range results {
		if r.Impl != Kubelect {
			continue
		}
		for _, v := range r.Violations {
			t.Errorf("kubelect %s on %s: %s (logs: %s)", r.Scenario, r.Lock, v, r.Dir)
		}
	}
	if t.Failed() {
		keep = true
	}
	if !keep {
		os.RemoveAll(logs)
	} else {
		t.Logf("logs kept in %s", logs)
	}
	t.Logf("CI campaign took %v", time.Since(start).Round(time.Second))
}
