// Command minimal-baseline is the floor for binary size and memory: net/http
// with TLS against the cluster CA, encoding/json and log/slog, no election.
// The kubelect program's goal is at most 1.15 times its size.
//
// With the argument -resident it keeps running until SIGTERM and reads the
// Lease "minimal" every two seconds, as a follower that polls would: the
// benchmark reads its resident memory as the floor any Go program talking
// to the API server pays.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	dir := "/var/run/secrets/kubernetes.io/serviceaccount/"
	if d := os.Getenv("KUBELECT_SA_DIR"); d != "" {
		dir = d + "/"
	}
	ca, err := os.ReadFile(dir + "ca.crt")
	if err != nil {
		slog.Error("ca", "err", err)
		os.Exit(1)
	}
	token, _ := os.ReadFile(dir + "token")
	ns, _ := os.ReadFile(dir + "namespace")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true},
	}
	host := "https://" + os.Getenv("KUBERNETES_SERVICE_HOST") + ":" + os.Getenv("KUBERNETES_SERVICE_PORT")
	get := func(path string) map[string]any {
		req, _ := http.NewRequest(http.MethodGet, host+path, nil)
		req.Header.Set("Authorization", "Bearer "+string(token))
		resp, err := client.Do(req)
		if err != nil {
			slog.Error("get", "err", err)
			return nil
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return v
	}
	if len(os.Args) < 2 || os.Args[1] != "-resident" {
		slog.Info("version", "v", get("/version")["gitVersion"])
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		get("/apis/coordination.k8s.io/v1/namespaces/" + string(ns) + "/leases/minimal")
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}
