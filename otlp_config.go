package vitals

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The configuration of the OTLP push: the OTLP options, the standard
// OTEL_ environment variables, and how the two combine (resolveOTLP).

// OTLP configures the push of the collector's figures to an OpenTelemetry
// endpoint over OTLP/HTTP (protobuf, gzipped). A field left zero takes its
// value from the standard environment variable of OpenTelemetry's SDKs,
// else the default documented on it; a field set here wins over the
// environment. See Options.OTLP for when the push is on.
type OTLP struct {
	// Endpoint is the full URL of the metrics endpoint, such as
	// http://collector:4318/v1/metrics. Default: the environment's
	// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT as it is, else
	// OTEL_EXPORTER_OTLP_ENDPOINT with /v1/metrics appended, else
	// http://localhost:4318/v1/metrics.
	Endpoint string
	// Headers are sent with every export, such as an authorization
	// header. They are added to (and win over) those of
	// OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_METRICS_HEADERS
	// (comma-separated key=value pairs, values percent-decoded).
	Headers map[string]string
	// Interval is the time between exports. Default
	// OTEL_METRIC_EXPORT_INTERVAL (milliseconds), else 60 s, as
	// OpenTelemetry's SDKs; at least 10 ms.
	Interval time.Duration
	// Resource are the resource attributes, added to (and winning over)
	// those of OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.
	// service.name defaults to the executable's name.
	Resource map[string]string

	// transport replaces the HTTP transport: the tests' receivers.
	transport http.RoundTripper
}

// Defaults of the OTLP push.
const (
	DefaultOTLPInterval = time.Minute
	defaultOTLPEndpoint = "http://localhost:4318/v1/metrics"
	// defaultOTLPTimeout bounds one attempt of an export, as the SDKs'
	// OTEL_EXPORTER_OTLP_TIMEOUT (which sets it) does.
	defaultOTLPTimeout = 10 * time.Second
)

// otlpConfig is the resolved configuration of the push.
type otlpConfig struct {
	endpoint  string
	header    http.Header // the headers sent with every export, vitals' own included
	interval  time.Duration
	timeout   time.Duration // of one attempt, at most interval
	resource  []string      // attribute key, value pairs, sorted by key
	transport http.RoundTripper
}

// resolveOTLP combines o with the environment, read through getenv, into
// the push's configuration: nil when there is no push. The push is off
// when OTEL_SDK_DISABLED is true or OTEL_METRICS_EXPORTER names exporters
// but not otlp, whatever o says; otherwise it is on when o is set, or when
// o is nil and OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT names an endpoint. An invalid value in o is
// an error; an invalid environment variable is ignored, as the SDKs do,
// and reported in warnings.
func resolveOTLP(o *OTLP, getenv func(string) string) (cfg *otlpConfig, warnings []error, err error) {
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		return nil, nil, nil
	}
	if v := env("OTEL_METRICS_EXPORTER"); v != "" && !slices.Contains(splitList(v), "otlp") {
		return nil, nil, nil
	}
	metricsEndpoint, endpoint := env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"), env("OTEL_EXPORTER_OTLP_ENDPOINT")
	if o == nil {
		if metricsEndpoint == "" && endpoint == "" {
			return nil, nil, nil
		}
		o = &OTLP{}
	}
	warn := func(format string, args ...any) {
		warnings = append(warnings, fmt.Errorf("vitals: OTLP: "+format, args...))
	}
	cfg = &otlpConfig{interval: DefaultOTLPInterval, timeout: defaultOTLPTimeout, transport: o.transport}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := env(name); v != "" {
			if v != "http/protobuf" {
				warn("%s=%q: vitals pushes http/protobuf only, and does so (the endpoint must take OTLP/HTTP)", name, v)
			}
			break
		}
	}

	// The endpoint.
	switch {
	case o.Endpoint != "":
		if err := checkEndpoint(o.Endpoint); err != nil {
			return nil, nil, fmt.Errorf("vitals: OTLP.Endpoint %q: %v", o.Endpoint, err)
		}
		cfg.endpoint = o.Endpoint
	case metricsEndpoint != "":
		cfg.endpoint = metricsEndpoint
	case endpoint != "":
		cfg.endpoint = signalEndpoint(endpoint)
	default:
		cfg.endpoint = defaultOTLPEndpoint
	}
	if err := checkEndpoint(cfg.endpoint); err != nil {
		warn("the endpoint %q from the environment: %v; nothing is pushed", cfg.endpoint, err)
		return nil, warnings, nil
	}

	// The headers: the environment's, then the options'.
	cfg.header = http.Header{}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS"} {
		kv, bad := parsePairs(env(name))
		for _, b := range bad {
			warn("%s: %s; ignored", name, b)
		}
		for i := 0; i < len(kv); i += 2 {
			if !validHeader(kv[i], kv[i+1]) {
				warn("%s: %q is not a valid header; ignored", name, kv[i])
				continue
			}
			cfg.header.Set(kv[i], kv[i+1])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.Headers)) {
		if !validHeader(k, o.Headers[k]) {
			return nil, nil, fmt.Errorf("vitals: OTLP.Headers: %q is not a valid header name and value", k)
		}
		cfg.header.Set(k, o.Headers[k])
	}
	cfg.header.Set("Content-Type", "application/x-protobuf")
	cfg.header.Set("Content-Encoding", "gzip")
	cfg.header.Set("User-Agent", "vitals/"+otlpVersion())

	// The interval and the timeout of an attempt.
	switch {
	case o.Interval < 0 || o.Interval > 0 && o.Interval < 10*time.Millisecond:
		return nil, nil, fmt.Errorf("vitals: OTLP.Interval %v is below 10ms", o.Interval)
	case o.Interval > 0:
		cfg.interval = o.Interval
	default:
		if d, ok := envMillis(env, "OTEL_METRIC_EXPORT_INTERVAL", 10*time.Millisecond, warn); ok {
			cfg.interval = d
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"} {
		if d, ok := envMillis(env, name, time.Millisecond, warn); ok {
			cfg.timeout = d
			break
		}
	}
	cfg.timeout = min(cfg.timeout, cfg.interval)

	// The resource: service.name, then the environment's, then the
	// options'.
	res := map[string]string{"service.name": executableName()}
	kv, bad := parsePairs(env("OTEL_RESOURCE_ATTRIBUTES"))
	for _, b := range bad {
		warn("OTEL_RESOURCE_ATTRIBUTES: %s; ignored", b)
	}
	for i := 0; i < len(kv); i += 2 {
		res[kv[i]] = kv[i+1]
	}
	if name := env("OTEL_SERVICE_NAME"); name != "" {
		res["service.name"] = name
	}
	for k, v := range o.Resource {
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, nil, fmt.Errorf("vitals: OTLP.Resource: %q is not a valid attribute: want a non-empty UTF-8 key and a UTF-8 value", k)
		}
		res[k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(res)) {
		cfg.resource = append(cfg.resource, k, res[k])
	}
	return cfg, warnings, nil
}

// checkEndpoint reports whether s is an http or https URL with a host.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("want an http:// or https:// URL")
	case u.Host == "":
		return errors.New("the URL has no host")
	}
	return nil
}

// parsePairs parses the W3C-baggage-like lists of the OTEL_ variables:
// comma-separated key=value pairs, keys and values trimmed, values
// percent-decoded. It returns the pairs (key, value, ...) and a note per
// entry it could not read.
func parsePairs(s string) (kv []string, bad []string) {
	for _, item := range strings.Split(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			bad = append(bad, fmt.Sprintf("%q is not key=value", item))
			continue
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil || !utf8.ValidString(dv) {
			bad = append(bad, fmt.Sprintf("the value of %q is not percent-encoded UTF-8", k))
			continue
		}
		kv = append(kv, k, dv)
	}
	return kv, bad
}

// splitList splits a comma-separated list, trimmed and lower-cased.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		out = append(out, strings.ToLower(strings.TrimSpace(v)))
	}
	return out
}

// envMillis reads the variable name as a whole number of milliseconds, at
// least least; an invalid value is warned of and ignored.
func envMillis(env func(string) string, name string, least time.Duration, warn func(string, ...any)) (time.Duration, bool) {
	v := env(name)
	if v == "" {
		return 0, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 || ms > int64(24*time.Hour/time.Millisecond) || time.Duration(ms)*time.Millisecond < least {
		warn("%s=%q is not a number of milliseconds from %d to a day; ignored", name, v, least.Milliseconds())
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// executableName is the default service.name: the executable's base name
// without an .exe suffix, or OpenTelemetry's "unknown_service".
func executableName() string {
	p, err := os.Executable()
	if err != nil || p == "" {
		return "unknown_service"
	}
	return strings.TrimSuffix(filepath.Base(p), ".exe")
}

// validHeader reports whether name is an HTTP token and value holds no
// control character but tab (RFC 9110).
func validHeader(name, value string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// signalEndpoint returns the metrics endpoint of a base endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT): v1/metrics appended to its path, after
// one slash, keeping its query. A base that does not parse is returned
// with v1/metrics appended, for checkEndpoint to refuse.
func signalEndpoint(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return strings.TrimSuffix(base, "/") + "/v1/metrics"
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/v1/metrics"
	u.RawPath = ""
	return u.String()
}
