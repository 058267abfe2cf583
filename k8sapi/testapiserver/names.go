package testapiserver

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/kubelect/kubelect/k8sapi"
)

// Name checks, with kube-apiserver's answers (checked against 1.37):
//
//   - creating a Lease, ConfigMap, Endpoints object or Pod (a POST, or a
//     PUT that creates) whose metadata.name (or generateName) is not a
//     DNS-1123 subdomain: 422 Invalid, a cause per failed rule;
//   - creating anything in a namespace that is not a DNS-1123 label: 404
//     NotFound for the namespace, as such a namespace can never exist;
//   - a name of "." or "..", or holding '%', in the URL of any request:
//     400 BadRequest (a '/' makes it another path: 404);
//   - reading, updating (without creating), deleting or watching an object
//     under an invalid name: what any missing object gets.
//
// Events are not checked: the real server takes any name for them.

// namesChecked lists the resources whose names the server checks on create.
var namesChecked = map[[2]string]bool{
	{"", "endpoints"}:                 true,
	{"", "configmaps"}:                true,
	{"", "pods"}:                      true,
	{"coordination.k8s.io", "leases"}: true,
}

// dns1123SubdomainMessage is kube-apiserver's text for a name that is not a
// DNS-1123 subdomain.
const dns1123SubdomainMessage = `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', ` +
	`and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is ` +
	`'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`

// dns1123Subdomain is the pattern of that message; the length is checked
// apart, as the real server does, so a name can fail both.
var dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// maxGeneratedPrefix is how much of generateName the real server keeps
// before it appends five random characters.
const maxGeneratedPrefix = 63 - 5

type statusCause struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Field   string `json:"field,omitempty"`
}

// subdomainProblems lists what is wrong with name as a DNS-1123 subdomain,
// in the real server's words and order.
func subdomainProblems(name string) []string {
	var p []string
	if len(name) > k8sapi.MaxNameLength {
		p = append(p, fmt.Sprintf("must be no more than %d characters", k8sapi.MaxNameLength))
	}
	if !dns1123Subdomain.MatchString(name) {
		p = append(p, dns1123SubdomainMessage)
	}
	return p
}

// invalidValue is a FieldValueInvalid cause.
func invalidValue(field, value, problem string) statusCause {
	return statusCause{Reason: "FieldValueInvalid", Field: field, Message: fmt.Sprintf("Invalid value: %q: %s", value, problem)}
}

// nameCauses checks the metadata.name and metadata.generateName of an
// object to be created, as kube-apiserver does: generateName first (with a
// trailing '-' allowed, the real server's way: its last two characters
// become one letter), then name, or its absence.
func nameCauses(name, generateName string) []statusCause {
	var causes []statusCause
	if generateName != "" {
		masked := generateName
		if len(masked) > 1 && strings.HasSuffix(masked, "-") {
			masked = masked[:len(masked)-2] + "a"
		}
		for _, p := range subdomainProblems(masked) {
			causes = append(causes, invalidValue("metadata.generateName", generateName, p))
		}
	}
	if name == "" {
		return append(causes, statusCause{Reason: "FieldValueRequired", Field: "metadata.name",
			Message: "Required value: name or generateName is required"})
	}
	for _, p := range subdomainProblems(name) {
		causes = append(causes, invalidValue("metadata.name", name, p))
	}
	return causes
}

// invalid is the 422 answer for an object of r's kind named name with
// causes, worded as the real server's: `Lease.coordination.k8s.io "X" is
// invalid: metadata.name: Invalid value: ...`, the causes in brackets when
// there are several.
func invalid(r request, name string, causes []statusCause) *status {
	kind := r.kind
	if r.group != "" {
		kind += "." + r.group
	}
	parts := make([]string, len(causes))
	for i, c := range causes {
		parts[i] = c.Field + ": " + c.Message
	}
	list := strings.Join(parts, ", ")
	if len(parts) > 1 {
		list = "[" + list + "]"
	}
	return failure(http.StatusUnprocessableEntity, "", fmt.Sprintf("%s %q is invalid: %s", kind, name, list),
		&statusDetails{Name: name, Group: r.group, Kind: r.kind, Causes: causes})
}

// namespaceMissing is the 404 for a create in a namespace that does not
// exist: here, one whose name no namespace can have.
func namespaceMissing(ns string) *status {
	return failure(http.StatusNotFound, "", fmt.Sprintf("namespaces %q not found", ns), &statusDetails{Name: ns, Kind: "namespaces"})
}

// namespaceExists reports whether ns can exist: every valid namespace name
// counts as existing here.
func namespaceExists(ns string) bool { return k8sapi.ValidateNamespace(ns) == nil }

// checkNew checks the namespace and names of obj, to be created as r: nil
// when it may be, else the real server's answer.
func checkNew(r request, obj map[string]any) *status {
	if !namespaceExists(r.namespace) {
		return namespaceMissing(r.namespace)
	}
	md := meta(obj)
	name, gen := str(md["name"]), str(md["generateName"])
	if !namesChecked[[2]string{r.group, r.resource}] {
		if name == "" && gen == "" {
			return invalid(r, "", nameCauses("", ""))
		}
		return nil
	}
	if causes := nameCauses(name, gen); len(causes) > 0 {
		return invalid(r, name, causes)
	}
	return nil
}

// badPathName is the 400 for a name in the URL that cannot be a path
// segment ("." or "..", or holding '%'); nil for one that can.
func badPathName(name string) *status {
	var problem string
	switch {
	case name == "." || name == "..":
		problem = fmt.Sprintf("may not be '%s'", name)
	case strings.Contains(name, "%"):
		problem = "may not contain '%'"
	default:
		return nil
	}
	return failure(http.StatusBadRequest, "", fmt.Sprintf("Name parameter invalid: %q: %s", name, problem), nil)
}
