module github.com/kubelect/kubelect/cmd/kubelect

go 1.22

require (
	github.com/kubelect/kubelect v0.0.0-00010101000000-000000000000
	github.com/kubelect/kubelect/kubeconfig v0.0.0-00010101000000-000000000000
)

require go.yaml.in/yaml/v3 v3.0.6 // indirect
