// Command checkstatic checks that ELF executables are statically linked, as
// a binary for a distroless "static" or scratch image must be: no program
// interpreter (PT_INTERP, the dynamic loader), no dynamic section
// (PT_DYNAMIC) and no shared library it needs (DT_NEEDED). With -stripped
// it also checks that the symbol and DWARF tables are gone (-ldflags
// "-s -w").
//
//	go run ./deploy/checkstatic [-stripped] FILE...
//
// It prints one line per file and exits 1 when any file fails, 2 on usage
// errors.
package main

import (
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("checkstatic", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stripped := fs.Bool("stripped", false, "also require no symbol table and no DWARF sections")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: checkstatic [-stripped] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	code := 0
	for _, path := range fs.Args() {
		if problems := check(path, *stripped); len(problems) > 0 {
			fmt.Fprintf(stdout, "%s: FAIL: %s\n", path, strings.Join(problems, "; "))
			code = 1
		} else {
			fmt.Fprintf(stdout, "%s: ok: static\n", path)
		}
	}
	return code
}

// check returns what makes the file at path not a static executable (not
// stripped, with stripped), or nothing.
func check(path string, stripped bool) []string {
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return []string{"not an ELF file: " + err.Error()}
		}
		return []string{err.Error()}
	}
	defer f.Close()
	var problems []string
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		problems = append(problems, fmt.Sprintf("not an executable (type %v)", f.Type))
	}
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			interp, _ := io.ReadAll(io.LimitReader(p.Open(), 256))
			problems = append(problems, fmt.Sprintf("has a program interpreter (PT_INTERP %q)", strings.TrimRight(string(interp), "\x00")))
		case elf.PT_DYNAMIC:
			problems = append(problems, "has a dynamic section (PT_DYNAMIC)")
		}
	}
	// ImportedLibraries reads DT_NEEDED; a file without a dynamic section
	// has none.
	if libs, err := f.ImportedLibraries(); err != nil {
		problems = append(problems, "cannot read the dynamic section: "+err.Error())
	} else if len(libs) > 0 {
		problems = append(problems, "needs shared libraries (DT_NEEDED "+strings.Join(libs, ", ")+")")
	}
	if stripped {
		var left []string
		for _, s := range f.Sections {
			if s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
				left = append(left, s.Name)
			}
		}
		if len(left) > 0 {
			problems = append(problems, "not stripped ("+strings.Join(left, ", ")+")")
		}
	}
	return problems
}
