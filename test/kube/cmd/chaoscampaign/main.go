// Command chaoscampaign runs the real-server chaos campaign (package
// chaos): several rounds of every fault scenario with kubelect and with
// client-go v0.37.2 candidates as processes behind fault proxies, against a
// kube-apiserver and etcd started on loopback, and writes the figures as
// Markdown.
//
//	test/kube/build.sh && cd test/kube && go run ./cmd/chaoscampaign -rounds 3 -out ../../chaos-real.md
//
// -ci runs the CI-sized plan instead. The exit status is 1 when kubelect
// broke an invariant.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubelect/kubelect/test/kube/chaos"
	"github.com/kubelect/kubelect/test/kube/harness"
)

func main() {
	rounds := flag.Int("rounds", 3, "rounds of each (scenario, lock kind) per implementation")
	cgRounds := flag.Int("clientgo-rounds", 0, "rounds of each scenario for client-go, which has one lock kind (default: -rounds)")
	impls := flag.String("impl", "kubelect,client-go", "implementations, comma-separated")
	only := flag.String("scenarios", "", "only these scenarios, comma-separated (default: all)")
	ci := flag.Bool("ci", false, "run the CI-sized plan (one round of each scenario for kubelect, two for client-go)")
	out := flag.String("out", "", "file to write the Markdown figures to (default: stdout only)")
	logs := flag.String("logs", "", "directory for the rounds' logs (default: a new temp dir, kept)")
	candidate := flag.String("candidate", "", "a prebuilt chaoscandidate (default: build it from the working tree)")
	flag.Parse()
	if *cgRounds == 0 {
		*cgRounds = *rounds
	}
	if err := run(*rounds, *cgRounds, *impls, *only, *ci, *out, *logs, *candidate); err != nil {
		log.Fatal(err)
	}
}

func run(rounds, cgRounds int, impls, only string, ci bool, out, logs, candidate string) error {
	ctx := context.Background()
	start := time.Now()
	var err error
	if logs == "" {
		if logs, err = os.MkdirTemp("", "kubelect-chaos-"); err != nil {
			return err
		}
	}
	if candidate == "" {
		candidate = filepath.Join(logs, "chaoscandidate")
		if err := chaos.BuildCandidate(ctx, ".", candidate); err != nil {
			return err
		}
	}
	cl, err := harness.Start(ctx, harness.Options{})
	if err != nil {
		return err
	}
	defer cl.Stop()
	log.Printf("kube-apiserver at %s; logs in %s", cl.Host, logs)
	var plan []chaos.Run
	if ci {
		plan = chaos.CIPlan()
	} else {
		names := map[string]bool{}
		for _, n := range strings.Split(only, ",") {
			if n = strings.TrimSpace(n); n != "" {
				if _, ok := chaos.ScenarioNamed(n); !ok {
					return fmt.Errorf("no scenario %q", n)
				}
				names[n] = true
			}
		}
		for _, impl := range strings.Split(impls, ",") {
			n := rounds
			if impl == chaos.ClientGo {
				n = cgRounds
			}
			plan = append(plan, chaos.Plan(n, []string{impl}, names)...)
		}
	}
	c := &chaos.Campaign{Cluster: cl, Binary: candidate, Dir: logs, Timing: chaos.DefaultTiming, Logf: log.Printf}
	results := c.RunAll(ctx, plan)
	command := "cd test/kube && go run ./cmd/chaoscampaign " + strings.Join(os.Args[1:], " ")
	report := chaos.Markdown(results, c, time.Since(start), strings.TrimSpace(command))
	fmt.Println(report)
	if out != "" {
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			return err
		}
	}
	for _, r := range results {
		if r.Impl == chaos.Kubelect && len(r.Violations) > 0 {
			return fmt.Errorf("kubelect broke an invariant (see the violations above; logs in %s)", logs)
		}
	}
	return nil
}
