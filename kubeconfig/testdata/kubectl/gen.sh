#!/usr/bin/env bash
# Writes the kubeconfig fixtures of this folder with the real kubectl
# (any version from 1.26 on: it has --exec-interactive-mode) and openssl,
# so that the tests read files exactly as kubectl writes them. Not run by
# the tests: run it by hand and commit what it writes.
#   bash kubeconfig/testdata/kubectl/gen.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -rf pki ./*.yaml
mkdir pki

# A CA and a client certificate signed by it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500 \
	-subj /CN=fixture-ca -keyout pki/ca.key -out pki/ca.crt 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/O=system:masters/CN=fixture-admin" -keyout pki/client.key -out pki/client.csr 2>/dev/null
openssl x509 -req -in pki/client.csr -CA pki/ca.crt -CAkey pki/ca.key -CAcreateserial \
	-days 36500 -out pki/client.crt 2>/dev/null
rm -f pki/client.csr pki/ca.srl pki/ca.key

k() { KUBECONFIG="$file" kubectl config "$@" >/dev/null; }

# kind and kubeadm: everything embedded.
file=embedded.yaml
k set-cluster kind-kind --server=https://127.0.0.1:40671 --certificate-authority=pki/ca.crt --embed-certs
k set-credentials kind-kind --client-certificate=pki/client.crt --client-key=pki/client.key --embed-certs
k set-context kind-kind --cluster=kind-kind --user=kind-kind
k use-context kind-kind

# Files named by relative paths, resolved against this folder.
file=files.yaml
k set-cluster files --server=https://10.0.0.1:6443 --certificate-authority=pki/ca.crt
k set-credentials files --client-certificate=pki/client.crt --client-key=pki/client.key
k set-context files --cluster=files --user=files --namespace=team-a
k use-context files

# A token, a TLS server name and a namespace; a second context with a
# token file (no flag for tokenFile: kubectl config set).
file=token.yaml
k set-cluster prod --server=https://203.0.113.10:6443 --certificate-authority=pki/ca.crt --embed-certs \
	--tls-server-name=kubernetes.prod.example
k set-credentials deployer --token=fixture-token-0f3a9c1e
k set-context prod --cluster=prod --user=deployer --namespace=ci
k set-credentials from-file
k set users.from-file.tokenFile pki/token
k set-context prod-file --cluster=prod --user=from-file
k use-context prod
printf 'fixture-file-token-7b2d\n' >pki/token

# An exec credential plugin, v1.
file=exec.yaml
k set-cluster exec --server=https://127.0.0.1:6443 --certificate-authority=pki/ca.crt --embed-certs
k set-credentials exec --exec-command=example-plugin --exec-api-version=client.authentication.k8s.io/v1 \
	--exec-arg=get-token --exec-arg=--cluster=exec --exec-env=PLUGIN_MODE=test --exec-env=EMPTY= \
	--exec-interactive-mode=Never --exec-provide-cluster-info=true
k set-context exec --cluster=exec --user=exec
k use-context exec

# Two files to merge: both define the cluster "shared", the user "shared"
# and the context "shared", and set a current-context.
file=first.yaml
k set-cluster shared --server=https://first.example:6443
k set-credentials shared --token=first-token-value-1
k set-context shared --cluster=shared --user=shared --namespace=first-ns
k set-cluster only-first --server=https://only-first.example
k set-context only-first --cluster=only-first --user=shared
k use-context only-first
file=second.yaml
k set-cluster shared --server=https://second.example:6443 --tls-server-name=second.example
k set-credentials shared --token=second-token-value-2
k set-context shared --cluster=shared --user=shared --namespace=second-ns
k set-cluster only-second --server=https://only-second.example
k set-credentials only-second --token=only-second-token-3
k set-context only-second --cluster=only-second --user=only-second
k use-context shared
file=no-current.yaml
k set-cluster third --server=https://third.example
k set-context third --cluster=third

# What this package refuses, each with advice.
file=insecure.yaml
k set-cluster insecure --server=https://127.0.0.1:6443 --insecure-skip-tls-verify=true
k set-credentials insecure --token=insecure-token-value
k set-context insecure --cluster=insecure --user=insecure
k use-context insecure
file=basic.yaml
k set-cluster basic --server=https://127.0.0.1:6443 --certificate-authority=pki/ca.crt
k set-credentials basic --username=admin --password=fixture-password-9d
k set-context basic --cluster=basic --user=basic
k use-context basic
file=auth-provider.yaml
k set-cluster oidc --server=https://127.0.0.1:6443 --certificate-authority=pki/ca.crt
k set-credentials oidc --auth-provider=oidc --auth-provider-arg=idp-issuer-url=https://issuer.example \
	--auth-provider-arg=client-id=kubelect --auth-provider-arg=id-token=fixture-id-token-5c
k set-context oidc --cluster=oidc --user=oidc
k use-context oidc
