module github.com/kubelect/kubelect/test/kube/harness

go 1.22
