// Command execplugin plays a kubeconfig exec credential plugin for the
// tests of package kubeconfigtest. Each run appends one JSON line to the
// -log file (its run number, time, arguments, PLUGIN_* environment,
// KUBERNETES_EXEC_INFO and what it returned) and prints an ExecCredential
// of the apiVersion that KUBERNETES_EXEC_INFO asks for.
//
//	-log FILE        the log (required)
//	-token FILE      repeatable: run n (from 0, counted by the log's lines)
//	                 returns the token of the n-th file, the last one once
//	                 they run out
//	-cert FILE, -key FILE
//	                 a client certificate and key (PEM) to return as well
//	-expire-in D     sets expirationTimestamp to now+D (RFC 3339, seconds)
//	-mark S          only logged, to see that arguments pass unchanged
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Record is one line of the log.
type Record struct {
	Run        int               `json:"run"`
	Time       time.Time         `json:"time"`
	Args       []string          `json:"args"`
	Env        map[string]string `json:"env"`
	ExecInfo   json.RawMessage   `json:"execInfo,omitempty"`
	TokenIndex int               `json:"tokenIndex"` // -1: no token
	Expiration *time.Time        `json:"expiration,omitempty"`
}

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(s string) error { *f = append(*f, s); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "execplugin:", err)
		os.Exit(1)
	}
}

func run() error {
	var tokens files
	logPath := flag.String("log", "", "log file")
	certPath := flag.String("cert", "", "client certificate (PEM)")
	keyPath := flag.String("key", "", "client key (PEM)")
	expireIn := flag.Duration("expire-in", 0, "lifetime of the credential")
	flag.String("mark", "", "logged only")
	flag.Var(&tokens, "token", "token file (repeatable)")
	flag.Parse()
	if *logPath == "" {
		return fmt.Errorf("-log is required")
	}
	now := time.Now()
	prev, err := os.ReadFile(*logPath)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	rec := Record{Run: bytes.Count(prev, []byte("\n")), Time: now, Args: os.Args[1:], Env: map[string]string{}, TokenIndex: -1}
	for _, kv := range os.Environ() {
		if name, value, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "PLUGIN_") {
			rec.Env[name] = value
		}
	}
	info := os.Getenv("KUBERNETES_EXEC_INFO")
	var req struct {
		APIVersion string `json:"apiVersion"`
	}
	if info != "" {
		rec.ExecInfo = json.RawMessage(info)
		if err := json.Unmarshal([]byte(info), &req); err != nil {
			return fmt.Errorf("KUBERNETES_EXEC_INFO: %w", err)
		}
	}
	if req.APIVersion == "" {
		return fmt.Errorf("KUBERNETES_EXEC_INFO names no apiVersion")
	}

	status := map[string]string{}
	if len(tokens) > 0 {
		rec.TokenIndex = min(rec.Run, len(tokens)-1)
		b, err := os.ReadFile(tokens[rec.TokenIndex])
		if err != nil {
			return err
		}
		status["token"] = strings.TrimSpace(string(b))
	}
	if *certPath != "" {
		cert, err := os.ReadFile(*certPath)
		if err != nil {
			return err
		}
		key, err := os.ReadFile(*keyPath)
		if err != nil {
			return err
		}
		status["clientCertificateData"], status["clientKeyData"] = string(cert), string(key)
	}
	if *expireIn > 0 {
		exp := now.Add(*expireIn).UTC().Truncate(time.Second)
		rec.Expiration = &exp
		status["expirationTimestamp"] = exp.Format(time.RFC3339)
	}

	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := logf.Write(append(line, '\n')); err != nil {
		logf.Close()
		return err
	}
	if err := logf.Close(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"apiVersion": req.APIVersion,
		"kind":       "ExecCredential",
		"status":     status,
	})
}
