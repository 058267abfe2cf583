package gobuild

import (
	"os"
	"path/filepath"
	"testing"
)

// TestBuild: a stripped build of a small program is smaller than the
// default one, both sizes are the files' own, and a package that does not
// exist is an error.
func TestBuild(t *testing.T) {
	dir := t.TempDir()
	full, err := Build("", "./testdata/hello", filepath.Join(dir, "full"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stripped, err := Build("", "./testdata/hello", filepath.Join(dir, "stripped"), []string{"-ldflags=-s -w"}, []string{"CGO_ENABLED=0"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "full")); err != nil || fi.Size() != full {
		t.Errorf("size %d, file %v, %v", full, fi, err)
	}
	if stripped <= 0 || stripped >= full {
		t.Errorf("stripped %d bytes, default %d: want 0 < stripped < default", stripped, full)
	}
	if _, err := Build("", "./testdata/absent", filepath.Join(dir, "x"), nil, nil); err == nil {
		t.Error("a package that does not exist built")
	}
}
