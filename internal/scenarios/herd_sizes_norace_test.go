//go:build go1.25 && !race

package scenarios_test

// herdSizes without the race detector.
var herdSizes = []int{3, 10, 50, 200}
