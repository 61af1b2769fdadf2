package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// dashboardFile is the Grafana dashboard shipped in the repository.
var dashboardFile = filepath.Join("..", "..", "docs", "grafana", "tolk-dashboard.json")

// promQLWords are PromQL's functions, aggregations and keywords: in an
// expression every other bare name is a metric.
var promQLWords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "topk": true, "bottomk": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "histogram_quantile": true,
	"time": true, "label_values": true, "abs": true, "clamp_min": true, "vector": true, "scalar": true,
}

var (
	promQLStrip = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring)\s*\([^)]*\)`)
	promQLName  = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
)

// metricNames returns the metric names an expression reads: what is left
// after label matchers, ranges, strings and grouping labels are cut out,
// less PromQL's own words (label_values' label argument too).
func metricNames(expr string) []string {
	if rest, ok := strings.CutPrefix(expr, "label_values("); ok {
		expr, _, _ = strings.Cut(rest, ",")
	}
	expr = promQLStrip.ReplaceAllString(expr, " ")
	var names []string
	for _, loc := range promQLName.FindAllStringIndex(expr, -1) {
		w := expr[loc[0]:loc[1]]
		if promQLWords[w] || strings.HasPrefix(strings.TrimLeft(expr[loc[1]:], " "), "(") {
			continue // a function or keyword
		}
		if loc[0] > 0 && (expr[loc[0]-1] == '$' || expr[loc[0]-1] >= '0' && expr[loc[0]-1] <= '9' || expr[loc[0]-1] == '.') {
			continue // $variable, or the unit of a number like 1e3
		}
		names = append(names, w)
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (route) (rate(tolk_http_requests_total{instance=~"$instance",code=~"5.."}[$__rate_interval]))`: {"tolk_http_requests_total"},
		`topk(10, histogram_quantile(0.99, sum by (le, op) (rate(a_bucket[5m]))))`:                             {"a_bucket"},
		`time() - max(b{x="y"}) > 0`:                                  {"b"},
		`sum(rate(c[1m])) / (sum(rate(d[1m])) + sum without (z) (e))`: {"c", "d", "e"},
		`label_values(tolk_http_requests_total, instance)`:            {"tolk_http_requests_total"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}

// dashboardExprs returns every PromQL expression of the dashboard: the
// panels' targets (rows' nested panels too) and the variables' queries.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string
		Targets []struct{ Expr string }
		Panels  []json.RawMessage
	}
	var d struct {
		Panels     []json.RawMessage
		Templating struct {
			List []struct {
				Name  string
				Type  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	exprs := map[string]string{} // expression → where
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			for _, tg := range p.Targets {
				exprs[tg.Expr] = "panel " + p.Title
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		exprs[q.Query] = "variable " + v.Name
	}
	return exprs
}

// exposed runs a server through every event that makes a metric family
// appear and returns what its registry gathers: the name of each
// family's series (histograms' _bucket, _sum and _count) → the family's.
func exposed(t *testing.T) map[string]string {
	t.Helper()
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) {
		c.LoginUserBurst = 1
		c.SMTPURL, c.SMTPFrom = deadSMTP(t), "tolk@example.com"
		c.ShutdownTimeout = 300 * time.Millisecond
	}})
	id, sec := metricsClient(t, s)
	tokenRequest(t, s, id, sec, "grant_type=client_credentials&scope=read")
	tokenRequest(t, s, id, sec+"x", "grant_type=client_credentials")
	s.CreateUser(t, "dave", store.RoleLinguist, "daves-password-123")
	for range 2 { // a failure, then a refusal of the login limit
		send(t, s, http.MethodPost, "/api2/v1/auth/login", loginBody("dave", "wrong"), "Content-Type", "application/json")
	}
	if _, err := s.Tolk.Sweeper.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.CreateUser(t, "erin", store.RoleLinguist, "erins-password-123")
	if err := s.Tolk.Recovery.RequestReset(context.Background(), "erin", "127.0.0.2", "en"); err != nil {
		t.Fatal(err)
	}
	s.Tolk.CloseMailer() // gives up on the dead server: a failed mail
	mfs, err := s.Tolk.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, mf := range mfs {
		m[mf.GetName()] = mf.GetName()
		if mf.GetType().String() == "HISTOGRAM" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				m[mf.GetName()+suffix] = mf.GetName()
			}
		}
	}
	return m
}

// TestDashboardMetricsExist: every metric the Grafana dashboard
// (docs/grafana/tolk-dashboard.json) queries is one tolk exposes, taken
// from a real server's registry after it served what makes each family
// appear; and every tolk_ family is on the dashboard. Renaming a metric,
// or adding one without a panel, fails here.
func TestDashboardMetricsExist(t *testing.T) {
	t.Parallel()
	exprs := dashboardExprs(t)
	if len(exprs) < 10 {
		t.Fatalf("only %d expressions in %s", len(exprs), dashboardFile)
	}
	have := exposed(t)
	used := map[string]bool{}
	for expr, where := range exprs {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			family, ok := have[n]
			if !ok {
				t.Errorf("%s: %s is not a metric tolk exposes (in %q)", where, n, expr)
				continue
			}
			used[family] = true
		}
	}
	for name := range have {
		if strings.HasPrefix(name, "tolk_") && have[name] == name && !used[name] {
			t.Errorf("%s is exposed but no panel of %s shows it", name, dashboardFile)
		}
	}
}
