package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The lines of a -curve run's log that replot reads back.
var (
	trialLine   = regexp.MustCompile(`trial (\S+) (\S+) s \S+: (\S+) \(counted (true|false)\)`)
	summaryLine = regexp.MustCompile(`curve (kubelect|client-go v0\.37\.2) (\S+) s: failover .* \((\d+) trials, (\d+) timed out, (\d+) run again\); ([-\d.]+) requests/min per fleet \((\d+) leadership changes\)`)
	quietLine   = regexp.MustCompile(`curve: the server's own lease requests: ([-\d.]+)/min`)
)

// replot rebuilds the curve's result from the log (standard error) of a
// -curve run, keeping the settings given: to draw and report again
// without measuring again. Counts the log does not hold (fleets with no
// first leader, steady fleets with none) are zero.
func replot(path string, keep []settings, o curveOptions) (*curveResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &curveResult{opts: o, points: make([][]*curvePoint, len(procImpls))}
	idx := map[string]int{}
	for i, s := range keep {
		idx[strings.TrimSuffix(s.label(), " s")] = i
	}
	for i := range procImpls {
		for _, s := range keep {
			r.points[i] = append(r.points[i], &curvePoint{s: s})
		}
	}
	implOf := func(name string) int {
		for i, im := range procImpls {
			if im.short == name || im.name == name {
				return i
			}
		}
		return -1
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := quietLine.FindStringSubmatch(line); m != nil {
			r.quiet, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := trialLine.FindStringSubmatch(line); m != nil {
			j, ok := idx[m[2]]
			i := implOf(m[1])
			if !ok || i < 0 || m[4] != "true" {
				continue
			}
			d, err := time.ParseDuration(m[3])
			if err != nil {
				return nil, fmt.Errorf("replot: %q: %w", line, err)
			}
			r.points[i][j].failover = append(r.points[i][j].failover, d)
		}
		if m := summaryLine.FindStringSubmatch(line); m != nil {
			j, ok := idx[m[2]]
			i := implOf(m[1])
			if !ok || i < 0 {
				continue
			}
			p := r.points[i][j]
			p.timedOut, _ = strconv.Atoi(m[4])
			p.disturbed, _ = strconv.Atoi(m[5])
			p.perMin, _ = strconv.ParseFloat(m[6], 64)
			p.changes, _ = strconv.Atoi(m[7])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for i := range r.points {
		for _, p := range r.points[i] {
			if len(p.failover) == 0 {
				return nil, fmt.Errorf("replot: no trials of %s at %s in %s", procImpls[i].name, p.s.label(), path)
			}
		}
	}
	return r, nil
}
