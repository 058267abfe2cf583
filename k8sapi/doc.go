// Package k8sapi is a small Kubernetes REST client over net/http, made for
// leader election: it reads, creates, updates, patches, deletes and watches
// single namespaced objects of the kinds the locks use (Leases, Endpoints,
// ConfigMaps, Events) and Pods, with nothing but the standard library.
//
// What it guarantees:
//
//   - TLS is verified against the cluster CA (or the system roots); there
//     is no switch to turn verification off. TLS 1.2 at least, HTTP/2 when
//     the server offers it. Plain http is refused to anything but a
//     loopback host unless Config.AllowInsecureHTTP says otherwise.
//   - Bound service-account tokens rotate: a BearerTokenFile is re-read at
//     least every minute, the last good token is kept when a read fails,
//     and a 401 makes the client re-read at once and send the request once
//     more if the token changed. The token never appears in an error, a log
//     line or a panic: text from the server (a Status, a body, a Warning, a
//     malformed response quoted by net/http) is redacted after JSON
//     decoding and before any cut, in every spelling that JSON escapes
//     allow, for the current token and the one before a rotation.
//   - An update sends back every field it did not touch exactly as it came
//     (labels, owner references, other annotations, subsets, data, managed
//     fields, fields this package does not know): Object keeps the JSON
//     fields as raw bytes and re-encodes only the path it changes.
//   - Every request but a watch is bounded by Config.Timeout; response
//     bodies, and each event of a watch, are capped by
//     Config.MaxResponseBytes (ErrResponseTooLarge, never a silent cut).
//   - A non-2xx answer is a *StatusError decoded from the server's Status,
//     or built from the HTTP code with a short snippet of the body when the
//     body is not a Status (a proxy's HTML page). IsNotFound, IsConflict,
//     IsAlreadyExists, IsForbidden, IsUnauthorized, IsGone,
//     IsTooManyRequests and IsInvalid see through wrapping; RetryAfter
//     gives the server's advice.
//   - Warning headers (such as "v1 Endpoints is deprecated") are surfaced
//     once per distinct text, not once per request.
//
// Patch sends a JSON Patch (RFC 6902) or a JSON merge patch (RFC 7386); a
// JSON Patch "test" operation makes a change conditional on any field.
//
// Limits: no list, strategic merge patch, server-side apply, discovery or
// protobuf; watches cover one object by name. Kubeconfig files and exec credential
// plugins are read by the module github.com/kubelect/kubelect/kubeconfig,
// which builds a Config (TokenSource, TLSServerName, GetClientCertificate
// are what it needs from this package). Redirects are not followed (a 3xx is an error), so the token is
// only ever sent to Config.Host. Certificates and the CA are read once, in
// New.
package k8sapi
