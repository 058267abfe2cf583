package main

import "testing"

// Both implementations renew against the canned transport, and the
// figures are plausible.
func TestRenewalCosts(t *testing.T) {
	ours, cg, err := renewalCosts()
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]renewalCost{"kubelect": ours, "client-go": cg} {
		if c.allocs <= 0 || c.bytes <= 0 || c.took <= 0 {
			t.Errorf("%s: %+v", name, c)
		}
		t.Logf("%s: %+v", name, c)
	}
}
