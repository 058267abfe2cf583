// Command minimal-baseline is the floor for binary size: net/http with TLS
// against the cluster CA, encoding/json and log/slog, no election. The
// kubelect program's goal is at most 1.15 times its size.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
)

func main() {
	dir := "/var/run/secrets/kubernetes.io/serviceaccount/"
	ca, err := os.ReadFile(dir + "ca.crt")
	if err != nil {
		slog.Error("ca", "err", err)
		os.Exit(1)
	}
	token, _ := os.ReadFile(dir + "token")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+os.Getenv("KUBERNETES_SERVICE_HOST")+":"+os.Getenv("KUBERNETES_SERVICE_PORT")+"/version", nil)
	req.Header.Set("Authorization", "Bearer "+string(token))
	resp, err := client.Do(req)
	if err != nil {
		slog.Error("get", "err", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	slog.Info("version", "v", v["gitVersion"])
}
