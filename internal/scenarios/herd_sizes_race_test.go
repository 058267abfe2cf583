//go:build go1.25 && race

package scenarios_test

// herdSizes under the race detector, which makes 200 electors take over a
// minute: up to 50 here. CI runs TestHerd without it too, with 200 (the
// "herd" step of .ci/run).
var herdSizes = []int{3, 10, 50}
