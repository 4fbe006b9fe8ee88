package vitals

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestOpenMetricsGolden(t *testing.T) {
	c, s := promFixture(t, Options{})
	golden(t, "openmetrics.golden.txt", c.appendOpenMetrics(nil, s))

	c, s = promFixture(t, Options{Namespace: "shop", ConstLabels: map[string]string{"role": `web "a"\b`, "az": "eu-1\nx"}})
	golden(t, "openmetrics_labels.golden.txt", c.appendOpenMetrics(nil, s))
}

// TestTextHasNoCreated: the text 0.0.4 never carries _created (a
// Prometheus reading it would store a series of its own), nor OpenMetrics'
// own lines.
func TestTextHasNoCreated(t *testing.T) {
	c, s := promFixture(t, Options{})
	text := string(c.appendPrometheus(nil, s))
	for _, bad := range []string{"_created", "# EOF", "# UNIT"} {
		if strings.Contains(text, bad) {
			t.Errorf("the text 0.0.4 holds %q", bad)
		}
	}
}

// TestOpenMetricsIsTheText: OpenMetrics carries the text's samples, line
// for line, and adds one _created per counter and histogram series, at the
// collector's start.
func TestOpenMetricsIsTheText(t *testing.T) {
	for _, o := range []Options{{}, {Namespace: "shop", ConstLabels: map[string]string{"role": `we"b`}}} {
		c, s := promFixture(t, o)
		samples := func(b []byte) (lines, created []string) {
			for line := range strings.Lines(string(b)) {
				switch {
				case strings.HasPrefix(line, "#"):
				case strings.Contains(line, "_created"):
					created = append(created, line)
				default:
					lines = append(lines, line)
				}
			}
			return lines, created
		}
		text, _ := samples(c.appendPrometheus(nil, s))
		om, created := samples(withoutExemplars(c.appendOpenMetrics(nil, s)))
		if !slices.Equal(text, om) {
			t.Errorf("%+v: OpenMetrics samples differ from the text's:\n%s\n---\n%s", o, strings.Join(om, ""), strings.Join(text, ""))
		}
		want := 0
		for _, line := range text {
			if strings.Contains(line, "_total") || strings.Contains(line, "http_request_duration_seconds_count") {
				want++
			}
		}
		start := strconv.FormatFloat(float64(c.start.UnixNano())/1e9, 'f', -1, 64)
		if len(created) != want {
			t.Errorf("%+v: %d _created samples, want %d (a counter's and a histogram's series)", o, len(created), want)
		}
		for _, line := range created {
			if !strings.HasSuffix(line, " "+start+"\n") {
				t.Errorf("%q: want the collector's start %s", line, start)
			}
		}
	}
}

// TestOpenMetricsWellFormed checks the structure OpenMetrics 1.0 asks for:
// each family's TYPE first, then its UNIT (matching the name's suffix)
// and HELP; every sample named after its family with a suffix its type
// allows; a counter's _created right after its _total, a histogram's after
// its _count, with the same labels; families unique; # EOF last.
func TestOpenMetricsWellFormed(t *testing.T) {
	c, s := promFixture(t, Options{Namespace: "shop", ConstLabels: map[string]string{"role": `we"b`}})
	b := withoutExemplars(c.appendOpenMetrics(nil, s)) // TestExemplarFaces checks them
	if !bytes.HasSuffix(b, []byte("\n# EOF\n")) || bytes.Count(b, []byte("# EOF")) != 1 {
		t.Fatalf("does not end with one # EOF line")
	}
	suffixes := map[string][]string{
		"counter":   {"_total", "_created"},
		"gauge":     {""},
		"summary":   {"_sum", "_count"},
		"histogram": {"_bucket", "_sum", "_count", "_created"},
	}
	seen := map[string]bool{}
	var fam, typ, prev string
	for line := range strings.Lines(strings.TrimSuffix(string(b), "# EOF\n")) {
		line = strings.TrimSuffix(line, "\n")
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			fam, typ, _ = strings.Cut(rest, " ")
			if seen[fam] {
				t.Errorf("family %s twice", fam)
			}
			seen[fam] = true
			if suffixes[typ] == nil {
				t.Errorf("%s: type %q", fam, typ)
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# UNIT "); ok {
			name, unit, _ := strings.Cut(rest, " ")
			if name != fam || !strings.HasSuffix(fam, "_"+unit) {
				t.Errorf("%q after TYPE %s", line, fam)
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			if name, _, _ := strings.Cut(rest, " "); name != fam {
				t.Errorf("%q after TYPE %s", line, fam)
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			t.Errorf("unexpected %q", line)
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		labels := ""
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, labels = line[:i], line[i:strings.LastIndexByte(line, ' ')]
		}
		suffix, ok := strings.CutPrefix(name, fam)
		if !ok || !slices.Contains(suffixes[typ], suffix) {
			t.Errorf("%q in the %s family %s", line, typ, fam)
		}
		if suffix == "_created" {
			before := map[string]string{"counter": "_total", "histogram": "_count"}[typ]
			if prev != fam+before+labels {
				t.Errorf("%q does not follow its series' %s (%q)", line, before, prev)
			}
		}
		prev = name + labels
	}
}

// TestPromtoolCheckOpenMetrics runs Prometheus' linter over the OpenMetrics
// face. promtool check metrics reads the text 0.0.4 (it has no OpenMetrics
// parser, 2.42 and 3.16 alike): what it says of OpenMetrics' own
// conventions (the _total and _created samples of a family named without
// them have "no help text") is all it may say. The exemplars, which the
// text has no grammar for, are taken off first (TestExemplarFaces and the
// conformance module's Prometheus 3.16 scrape check them).
func TestPromtoolCheckOpenMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("VITALS_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool not found, and VITALS_REQUIRE_PROMTOOL is set")
		}
		t.Skip("promtool not installed (Debian package prometheus); .ci/run installs it")
	}
	c, s := promFixture(t, Options{Namespace: "shop", ConstLabels: map[string]string{"role": `we"b`}})
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(withoutExemplars(c.appendOpenMetrics(nil, s)))
	out, _ := cmd.CombinedOutput()
	for line := range strings.Lines(string(out)) {
		name, problem, _ := strings.Cut(strings.TrimSpace(line), " ")
		if problem == "no help text" && (strings.HasSuffix(name, "_total") || strings.HasSuffix(name, "_created")) {
			continue
		}
		t.Errorf("promtool check metrics: %s", line)
	}
}

// withoutExemplars returns the OpenMetrics exposition b with the exemplars
// taken off its bucket lines.
func withoutExemplars(b []byte) []byte {
	var out []byte
	for line := range strings.Lines(string(b)) {
		if i := strings.Index(line, " # {"); i > 0 {
			line = line[:i] + "\n"
		}
		out = append(out, line...)
	}
	return out
}
