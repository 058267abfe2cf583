// Command memfloor measures what kubelect adds to the resident memory of
// the bare floor, the way leaderbench does: the minimal programs built
// stripped and static (CGO_ENABLED=0), run against the harness's
// kube-apiserver, and read from /proc after they settle. It repeats the
// measurement over several rounds and prints each round and the medians of
// VmRSS, RssAnon and RssFile for the baseline (polling the Lease), the
// kubelect leader and the kubelect follower, and the leader's and
// follower's distance from the baseline.
//
//	test/kube/build.sh && cd test/kube && go run ./cmd/memfloor -rounds 5
//
// -before DIR[,DIR...] measures the minimal-kubelect of other checkouts
// too (a git archive of an older commit, say), in the same rounds and on
// the same server, for a before/after comparison; each is named by its
// directory's base name.
//
// -tags memdiag builds the programs with their diagnostics (package
// memdiag): each process then writes its runtime.MemStats, goroutines and
// a heap profile of every allocation into -diag after it is read. The
// profiling costs memory: the figures of such a run are not the programs'.
//
// -smaps prints the resident mappings of each process.
//
// -serve only starts the cluster and prints the environment the programs
// need, to run them by hand.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kubelect/kubelect/test/kube/cmd/internal/gobuild"
	"github.com/kubelect/kubelect/test/kube/cmd/internal/procfs"
	"github.com/kubelect/kubelect/test/kube/harness"
)

func main() {
	rounds := flag.Int("rounds", 3, "measurement rounds")
	settle := flag.Duration("settle", 20*time.Second, "time the programs run before they are read")
	tags := flag.String("tags", "", "build tags for the kubelect program (memdiag: write diagnostics)")
	diag := flag.String("diag", "", "directory for the memdiag diagnostics (default: a temporary one, printed)")
	smaps := flag.Bool("smaps", false, "print each process's resident mappings")
	before := flag.String("before", "", "roots of other checkouts of the repository, comma-separated: their minimal-kubelect is measured too, in the same rounds")
	serve := flag.Bool("serve", false, "only start the cluster, print the environment the programs need, and wait for SIGINT/SIGTERM")
	flag.Parse()
	if *serve {
		if err := serveCluster(); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(*rounds, *settle, *tags, *diag, *smaps, *before); err != nil {
		log.Fatal(err)
	}
}

// serveCluster starts the cluster and waits for a signal: for running the
// minimal programs by hand (with -tags memdiag, say) between measurements.
func serveCluster() error {
	cl, err := harness.Start(context.Background(), harness.Options{})
	if err != nil {
		return err
	}
	defer cl.Stop()
	for k, v := range cl.Env() {
		fmt.Printf("export %s=%s\n", k, v)
	}
	fmt.Printf("export KUBELECT_SA_DIR=%s\n", cl.ServiceAccountDir)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	return nil
}

// mem is a process's resident set in KiB, from /proc/<pid>/status.
type mem struct{ rss, anon, file int }

// program is a kubelect program under measurement, with its figures.
type program struct {
	name, bin            string
	base, leader, follow []mem
}

func run(rounds int, settle time.Duration, tags, diag string, smaps bool, before string) error {
	ctx := context.Background()
	cl, err := harness.Start(ctx, harness.Options{})
	if err != nil {
		return err
	}
	defer cl.Stop()
	dir, err := os.MkdirTemp("", "memfloor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if diag == "" && strings.Contains(tags, "memdiag") {
		if diag, err = os.MkdirTemp("", "memfloor-diag-"); err != nil {
			return err
		}
	}
	base := filepath.Join(dir, "minimal-baseline")
	progs := []*program{{name: "kubelect", bin: filepath.Join(dir, "minimal-kubelect")}}
	builds := []struct{ dir, pkg, out, tags string }{
		{".", "./cmd/minimal-baseline", base, tags},
		{".", "./cmd/minimal-kubelect", progs[0].bin, tags},
	}
	for i, root := range strings.FieldsFunc(before, func(r rune) bool { return r == ',' }) {
		p := &program{name: filepath.Base(root), bin: filepath.Join(dir, fmt.Sprintf("minimal-kubelect-%d", i+1))}
		progs = append(progs, p)
		builds = append(builds, struct{ dir, pkg, out, tags string }{filepath.Join(root, "test", "kube"), "./cmd/minimal-kubelect", p.bin, ""})
	}
	for _, b := range builds {
		size, err := build(b.dir, b.pkg, b.out, b.tags)
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d bytes stripped and static\n", filepath.Base(b.out), size)
	}
	env := []string{"KUBELECT_SA_DIR=" + cl.ServiceAccountDir}
	for k, v := range cl.Env() {
		env = append(env, k+"="+v)
	}
	if diag != "" {
		if err := os.MkdirAll(diag, 0o755); err != nil {
			return err
		}
		env = append(env, "KUBELECT_MEMDIAG="+diag)
		fmt.Printf("diagnostics in %s\n", diag)
	}
	fmt.Printf("settle %v; KiB as VmRSS / RssAnon / RssFile\n", settle)
	for i := 0; i < rounds; i++ {
		// The programs share the Lease "minimal": each kubelect program
		// runs in a set of its own, with a baseline beside it.
		for _, p := range progs {
			ms, err := resident(env, settle, smaps, diag != "",
				[]string{base, "-resident"},
				[]string{p.bin, fmt.Sprintf("leader-%d", i)},
				[]string{p.bin, fmt.Sprintf("follower-%d", i)})
			if err != nil {
				return err
			}
			p.base, p.leader, p.follow = append(p.base, ms[0]), append(p.leader, ms[1]), append(p.follow, ms[2])
			fmt.Printf("round %d, %s: baseline %v, leader %v, follower %v\n", i+1, p.name, ms[0], ms[1], ms[2])
		}
	}
	for _, p := range progs {
		b, l, f := median(p.base), median(p.leader), median(p.follow)
		fmt.Printf("%s, median: baseline %v, leader %v, follower %v\n", p.name, b, l, f)
		fmt.Printf("%s, above the baseline: leader %s, follower %s\n", p.name, above(l, b), above(f, b))
	}
	return nil
}

func (m mem) String() string {
	return fmt.Sprintf("%d / %d / %d", m.rss, m.anon, m.file)
}

// above is m less the baseline b, in MiB.
func above(m, b mem) string {
	mib := func(k int) string { return fmt.Sprintf("%+.2f", float64(k)/1024) }
	return fmt.Sprintf("%s MiB (anon %s, file %s)", mib(m.rss-b.rss), mib(m.anon-b.anon), mib(m.file-b.file))
}

// median of each field on its own.
func median(ms []mem) mem {
	pick := func(f func(mem) int) int {
		v := make([]int, len(ms))
		for i, m := range ms {
			v[i] = f(m)
		}
		sort.Ints(v)
		return v[len(v)/2]
	}
	return mem{pick(func(m mem) int { return m.rss }), pick(func(m mem) int { return m.anon }), pick(func(m mem) int { return m.file })}
}

// build builds pkg of the module in dir as leaderbench builds the programs
// it measures: stripped (-ldflags=-s -w) and static (CGO_ENABLED=0).
func build(dir, pkg, out, tags string) (int64, error) {
	flags := []string{"-ldflags=-s -w"}
	if tags != "" {
		flags = append(flags, "-tags", tags)
	}
	return gobuild.Build(dir, pkg, out, flags, []string{"CGO_ENABLED=0"})
}

// resident starts each command two seconds apart (so that the first
// kubelect one leads), waits settle, reads their resident memory, and
// stops them with SIGTERM. With diag, the kubelect programs (memdiag
// builds) are sent SIGUSR1 after they are read, to write their diagnostics.
func resident(env []string, settle time.Duration, smaps, diag bool, cmdlines ...[]string) ([]mem, error) {
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
			_ = c.Wait()
		}
	}()
	for _, args := range cmdlines {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), env...)
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		cmds = append(cmds, cmd)
		time.Sleep(2 * time.Second)
	}
	time.Sleep(settle)
	var ms []mem
	for i, c := range cmds {
		m, err := status(c.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cmdlines[i][0], err)
		}
		ms = append(ms, m)
		if smaps {
			printSmaps(c.Process.Pid, strings.Join(cmdlines[i], " "))
		}
	}
	if diag {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGUSR1)
		}
		time.Sleep(2 * time.Second) // for them to write
	}
	return ms, nil
}

func status(pid int) (mem, error) {
	m, err := procfs.ReadMem(pid)
	return mem{m.RSS, m.Anon, m.File}, err
}

// printSmaps prints the mappings of pid that have resident pages.
func printSmaps(pid int, name string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		log.Print(err)
		return
	}
	fmt.Printf("  %s: resident mappings (KiB)\n", name)
	var head string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-"):
			head = line
		case len(f) >= 2 && f[0] == "Rss:" && f[1] != "0":
			fmt.Printf("    %6s  %s\n", f[1], head)
		}
	}
}
