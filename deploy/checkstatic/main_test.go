package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// build builds this very command with CGO_ENABLED=0 and the extra flags.
func build(t *testing.T, name string, flags ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, flags...), ".")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func TestStaticBinaryPasses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("builds and reads Linux executables")
	}
	bin := build(t, "static", "-trimpath", "-ldflags=-s -w")
	if p := check(bin, true); len(p) > 0 {
		t.Errorf("a CGO_ENABLED=0 -s -w build: %v", p)
	}
	var out bytes.Buffer
	if code := run([]string{"-stripped", bin}, &out, &out); code != 0 || !strings.Contains(out.String(), "ok: static") {
		t.Errorf("run = %d, %q", code, out.String())
	}
}

func TestUnstrippedFailsOnlyWithStripped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("builds and reads Linux executables")
	}
	bin := build(t, "unstripped")
	if p := check(bin, false); len(p) > 0 {
		t.Errorf("a static build without -stripped: %v", p)
	}
	p := check(bin, true)
	if len(p) != 1 || !strings.Contains(p[0], ".symtab") {
		t.Errorf("a build without -s -w, with -stripped: %v, want the .symtab named", p)
	}
}

func TestDynamicBinaryFails(t *testing.T) {
	var dynamic []string
	for _, path := range []string{"/bin/ls", "/usr/bin/env", "/bin/sh"} {
		if _, err := os.Stat(path); err == nil {
			dynamic = append(dynamic, path)
		}
	}
	if len(dynamic) == 0 {
		t.Skip("no /bin/ls, /usr/bin/env or /bin/sh")
	}
	for _, path := range dynamic {
		p := check(path, false)
		text := strings.Join(p, "; ")
		if !strings.Contains(text, "PT_INTERP") || !strings.Contains(text, "DT_NEEDED") {
			t.Errorf("%s: %q, want the interpreter and the libraries named", path, text)
		}
	}
	var out bytes.Buffer
	if code := run(dynamic, &out, &out); code != 1 || !strings.Contains(out.String(), "FAIL") {
		t.Errorf("run(%v) = %d, %q; want 1 and FAIL", dynamic, code, out.String())
	}
}

// TestCgoBinaryFails builds a program with cgo, which links the C library
// dynamically.
func TestCgoBinaryFails(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("builds and reads Linux executables")
	}
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc for a cgo build")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module cgoprobe\n\ngo 1.22\n",
		"main.go": "package main\n\n// #include <stdlib.h>\nimport \"C\"\n\nfunc main() { C.abs(-1) }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", "cgoprobe", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "CC="+cc, "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cgo build failed (no C library headers?): %v\n%s", err, b)
	}
	if p := check(filepath.Join(dir, "cgoprobe"), false); !strings.Contains(strings.Join(p, "; "), "DT_NEEDED") {
		t.Errorf("a cgo build: %v, want DT_NEEDED named", p)
	}
}

func TestNotELF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p := check(path, false); len(p) != 1 || !strings.Contains(p[0], "not an ELF file") {
		t.Errorf("a shell script: %v", p)
	}
	if p := check(filepath.Join(t.TempDir(), "missing"), false); len(p) != 1 {
		t.Errorf("a missing file: %v", p)
	}
	var out bytes.Buffer
	if code := run(nil, &out, &out); code != 2 {
		t.Errorf("no files: exit %d, want 2", code)
	}
}
