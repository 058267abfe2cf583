//go:build memdiag

package main

// With -tags memdiag the program writes its memory diagnostics on SIGUSR1
// (see package memdiag); without it, it links none of them.
import _ "github.com/kubelect/kubelect/test/kube/cmd/memfloor/memdiag"
