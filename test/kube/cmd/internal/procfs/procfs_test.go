package procfs

import (
	"os"
	"testing"
)

func TestParseMem(t *testing.T) {
	status := "Name:\tx\nVmRSS:\t   8448 kB\nRssAnon:\t    1932 kB\nRssFile:\t    6516 kB\nRssShmem:\t       0 kB\n"
	m, err := ParseMem(status, 1)
	if err != nil || m != (Mem{RSS: 8448, Anon: 1932, File: 6516}) {
		t.Fatalf("ParseMem: %+v, %v", m, err)
	}
	if _, err := ParseMem("Name:\tx\n", 1); err == nil {
		t.Fatal("ParseMem without VmRSS: no error")
	}
	if m, err := ReadMem(os.Getpid()); err != nil || m.RSS <= 0 || m.Anon <= 0 {
		t.Fatalf("ReadMem(self): %+v, %v", m, err)
	}
}
