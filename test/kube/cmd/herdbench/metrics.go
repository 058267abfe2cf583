package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubelect/kubelect/test/kube/cmd/internal/procfs"
)

// key is one series of apiserver_request_total for leases, the other
// labels summed away.
type key struct{ verb, code string }

// counts are request counts (or rates) by verb and code.
type counts map[key]float64

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseSample parses `name{a="b",c="d"} value [timestamp]`; ok is false
// for comments, blank lines and lines it cannot read.
func parseSample(line string) (s sample, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return s, false
	}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, false
	}
	s.name = line[:i]
	s.labels = map[string]string{}
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if rest == "" {
				return s, false
			}
			if rest[0] == '}' {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || eq+1 >= len(rest) || rest[eq+1] != '"' {
				return s, false
			}
			name := strings.TrimSpace(rest[:eq])
			rest = rest[eq+2:]
			var b strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						b.WriteByte('\n')
					default:
						b.WriteByte(rest[j])
					}
					continue
				}
				if c == '"' {
					rest = rest[j+1:]
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return s, false
			}
			s.labels[name] = b.String()
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 {
		return s, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, false
	}
	s.value = v
	return s, true
}

// serverLeases is what one scrape of /metrics says about leases.
type serverLeases struct {
	requests counts  // apiserver_request_total{resource="leases"} by verb and code
	watches  float64 // apiserver_longrunning_requests{resource="leases",verb="WATCH"}: open watches
}

// parseLeaseMetrics reads the lease series from a /metrics text.
func parseLeaseMetrics(text string) serverLeases {
	out := serverLeases{requests: counts{}}
	for _, line := range strings.Split(text, "\n") {
		if !strings.Contains(line, `resource="leases"`) {
			continue
		}
		s, ok := parseSample(line)
		if !ok || s.labels["resource"] != "leases" || s.labels["subresource"] != "" {
			continue
		}
		switch s.name {
		case "apiserver_request_total":
			out.requests[key{s.labels["verb"], s.labels["code"]}] += s.value
		case "apiserver_longrunning_requests":
			if s.labels["verb"] == "WATCH" {
				out.watches += s.value
			}
		}
	}
	return out
}

// delta is after less before, series by series (a series new in after
// counts from zero).
func delta(before, after counts) counts {
	d := counts{}
	for k, v := range after {
		if x := v - before[k]; x != 0 {
			d[k] = x
		}
	}
	return d
}

// less subtracts the server's own traffic, rate (per second) over secs,
// from c, never going below zero in a series.
func (c counts) less(rate counts, secs float64) counts {
	d := counts{}
	for k, v := range c {
		if x := v - rate[k]*secs; x > 0 {
			d[k] = x
		}
	}
	return d
}

// perSecond divides every series by secs.
func (c counts) perSecond(secs float64) counts {
	d := counts{}
	for k, v := range c {
		d[k] = v / secs
	}
	return d
}

// add sums c and o.
func (c counts) add(o counts) counts {
	d := counts{}
	for k, v := range c {
		d[k] += v
	}
	for k, v := range o {
		d[k] += v
	}
	return d
}

func (c counts) total() float64 {
	var t float64
	for _, v := range c {
		t += v
	}
	return t
}

func (c counts) verb(v string) float64 {
	var t float64
	for k, x := range c {
		if k.verb == v {
			t += x
		}
	}
	return t
}

// writes are the requests that change the Lease (or try to).
func (c counts) writes() float64 {
	var t float64
	for k, x := range c {
		switch k.verb {
		case "PUT", "POST", "PATCH", "APPLY", "DELETE":
			t += x
		}
	}
	return t
}

// reads are GETs and LISTs (not watches).
func (c counts) reads() float64 { return c.verb("GET") + c.verb("LIST") }

// conflicts are 409 answers.
func (c counts) conflicts() float64 {
	var t float64
	for k, x := range c {
		if k.code == "409" {
			t += x
		}
	}
	return t
}

// String lists the series as VERB code=n, sorted, for logs.
func (c counts) String() string {
	var parts []string
	for k, v := range c {
		if math.Abs(v) >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %s=%.1f", k.verb, k.code, v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// parseStatCPU returns utime+stime from a /proc/<pid>/stat line.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no comm")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields", len(f))
	}
	u, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat utime: %w", err)
	}
	s, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat stime: %w", err)
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// procCPU is a process's user and system CPU time so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// procRSS is a process's VmRSS in KiB.
func procRSS(pid int) (int, error) {
	m, err := procfs.ReadMem(pid)
	return m.RSS, err
}

// findProcess finds the process whose argv[0] has base name and whose
// arguments include arg exactly (the harness does not expose pids).
func findProcess(name, arg string) (pid int, args []string, err error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, nil, err
	}
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(argv[0]) != name {
			continue
		}
		for _, a := range argv[1:] {
			if a == arg {
				return p, argv, nil
			}
		}
	}
	return 0, nil, fmt.Errorf("no %s process with %s", name, arg)
}

// flagValue is the value of --name=value in args.
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// parseTCPLine reads one line of /proc/net/tcp{,6}: the remote port, the
// state (1 is ESTABLISHED) and the socket's inode.
func parseTCPLine(line string) (remotePort int, state int, inode string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 10 || !strings.HasSuffix(f[0], ":") {
		return 0, 0, "", false
	}
	i := strings.LastIndexByte(f[2], ':')
	if i < 0 {
		return 0, 0, "", false
	}
	p, err := strconv.ParseInt(f[2][i+1:], 16, 32)
	if err != nil {
		return 0, 0, "", false
	}
	st, err := strconv.ParseInt(f[3], 16, 32)
	if err != nil {
		return 0, 0, "", false
	}
	return int(p), int(st), f[9], true
}

// connectionsTo counts this process's established TCP connections to port.
func connectionsTo(port int) (int, error) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if p, st, ino, ok := parseTCPLine(line); ok && p == port && st == 1 && mine[ino] {
				n++
			}
		}
	}
	return n, nil
}
