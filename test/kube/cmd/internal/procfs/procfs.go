// Package procfs reads what the measurement commands need of a process
// from Linux's /proc: its resident memory, split as the kernel splits it.
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mem is a process's resident set from /proc/<pid>/status, in KiB:
// VmRSS, and its anonymous (heap, stacks) and file-backed (the binary's
// pages) parts.
type Mem struct{ RSS, Anon, File int }

// ReadMem reads pid's Mem.
func ReadMem(pid int) (Mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, err
	}
	return ParseMem(string(b), pid)
}

// ParseMem reads a Mem out of the text of /proc/<pid>/status.
func ParseMem(status string, pid int) (Mem, error) {
	var m Mem
	for _, line := range strings.Split(status, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			m.RSS = n
		case "RssAnon:":
			m.Anon = n
		case "RssFile:":
			m.File = n
		}
	}
	if m.RSS == 0 {
		return Mem{}, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}
