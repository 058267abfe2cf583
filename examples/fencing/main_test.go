//go:build go1.25

//go:debug asynctimerchan=0

package main

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
)

// The demonstration in fake time: the frozen replica's late write is
// refused, the new leader's is kept.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out strings.Builder
		if err := run(context.Background(), &out); err != nil {
			t.Fatalf("run: %v\n%s", err, out.String())
		}
		for _, want := range []string{
			"a: order 1 recorded",
			"b: order 3 recorded",
			"a: order 2 refused: fencing: stale token",
			"the ConfigMap's last order: order 3 by b",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
}
