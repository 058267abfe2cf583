// Command candidate-floor is the floor of leaderbench's cold start: no
// leader-election library, only what any Go program must do to take a
// Lease: read the service-account files, build a net/http client that
// trusts the cluster CA and speaks HTTP/2, GET the Lease, and create it
// (POST) or take it over (PUT) when it is free or released. It then
// prints the same lines as candidate-kubelect with -once, sets
// holderIdentity back to empty (a release) and exits. It is no elector:
// it does not check expiry, renew or watch. Only -once is supported.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubelect/kubelect/test/kube/cmd/internal/benchcand"
)

func main() {
	rec := benchcand.Start()
	o := benchcand.Flags()
	if !o.Once {
		log.Fatal("candidate-floor: only -once")
	}
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	token, err := os.ReadFile(filepath.Join(o.SADir, "token"))
	if err != nil {
		log.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(o.SADir, "ca.crt"))
	if err != nil {
		log.Fatal(err)
	}
	ns, err := os.ReadFile(filepath.Join(o.SADir, "namespace"))
	if err != nil {
		log.Fatal(err)
	}
	rec.Mark("config")
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		log.Fatal("candidate-floor: no certificate in ca.crt")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	client := &http.Client{Transport: rec.Wrap(tr), Timeout: 10 * time.Second}
	base := "https://" + net.JoinHostPort(host, port) + "/apis/coordination.k8s.io/v1/namespaces/" + strings.TrimSpace(string(ns)) + "/leases"
	do := func(method, url string, body any) (int, []byte) {
		var rd *bytes.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				log.Fatal(err)
			}
			rd = bytes.NewReader(b)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
		if err != nil {
			log.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		return resp.StatusCode, out.Bytes()
	}
	rec.Mark("client")
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	spec := map[string]any{"holderIdentity": o.ID, "leaseDurationSeconds": int(o.Lease.Seconds()), "acquireTime": now, "renewTime": now}
	var lease map[string]any
	switch code, body := do(http.MethodGet, base+"/"+o.Name, nil); code {
	case http.StatusNotFound:
		lease = map[string]any{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": map[string]any{"name": o.Name}, "spec": spec}
		if code, body := do(http.MethodPost, base, lease); code != http.StatusCreated {
			log.Fatalf("candidate-floor: create: %d %s", code, body)
		}
	case http.StatusOK:
		if err := json.Unmarshal(body, &lease); err != nil {
			log.Fatal(err)
		}
		if h, _ := lease["spec"].(map[string]any)["holderIdentity"].(string); h != "" {
			log.Fatalf("candidate-floor: held by %q", h)
		}
		lease["spec"] = spec
		if code, body := do(http.MethodPut, base+"/"+o.Name, lease); code != http.StatusOK {
			log.Fatalf("candidate-floor: take over: %d %s", code, body)
		}
	default:
		log.Fatalf("candidate-floor: get: %d %s", code, body)
	}
	rec.Lead(true)
	// Release: read the current object and empty its holder.
	code, body := do(http.MethodGet, base+"/"+o.Name, nil)
	if code != http.StatusOK || json.Unmarshal(body, &lease) != nil {
		log.Fatalf("candidate-floor: read for release: %d %s", code, body)
	}
	lease["spec"].(map[string]any)["holderIdentity"] = ""
	if code, body := do(http.MethodPut, base+"/"+o.Name, lease); code != http.StatusOK {
		log.Fatalf("candidate-floor: release: %d %s", code, body)
	}
	fmt.Fprintln(os.Stderr, "candidate-floor: released")
}
