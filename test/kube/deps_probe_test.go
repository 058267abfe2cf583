package kube_test

import (
	_ "github.com/kubelect/kubelect/kubeconfig"
	_ "go.yaml.in/yaml/v3"
)
