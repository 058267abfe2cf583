package resourcelock_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

func fmtType(v any) string                      { return fmt.Sprintf("%T", v) }
func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// listEvents lists the core/v1 Events in ns.
func listEvents(srv *testapiserver.Server) ([]map[string]any, error) {
	req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/"+ns+"/events", nil)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		return nil, fmt.Errorf("list events: %d %s: %w", rec.Code, rec.Body, err)
	}
	return list.Items, nil
}
