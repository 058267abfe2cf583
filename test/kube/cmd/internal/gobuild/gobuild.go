// Package gobuild builds the programs the benchmarks measure and reports
// their size.
package gobuild

import (
	"fmt"
	"os"
	"os/exec"
)

// Build runs go build of pkg into out, with flags before the package, in
// dir (the current directory when empty) and with env added to the
// environment, and returns the size of the binary.
func Build(dir, pkg, out string, flags, env []string) (int64, error) {
	args := []string{"build"}
	if dir != "" {
		args = append(args, "-C", dir)
	}
	args = append(append(append(args, "-o", out), flags...), pkg)
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("build %s: %w", pkg, err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
