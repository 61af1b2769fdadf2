package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/platform"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// auditFlow runs a full flow that touches every kind of event, and
// returns every secret it saw issued or typed.
func auditFlow(t *testing.T, s *tolktest.Server) (store.User, creds, []string) {
	t.Helper()
	lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
	// A failed sign-in is recorded by its account, never by the name
	// typed: a password typed into the user-name field (the most common
	// way a password reaches a log) must not land in the audit log.
	postJSON(t, s, "/api2/v1/auth/login", map[string]string{"userName": "lena", "password": "wrong-password-9"})
	postJSON(t, s, "/api2/v1/auth/login", map[string]string{"userName": "lena-password-1", "password": "lena"})
	c := issueAll(t, s, lena, "lena-password-1")
	rot := tokenRequest(t, s, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.refresh}})
	// Reuse of the rotated token: a detection.
	tokenRequest(t, s, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.refresh}})
	// TMS logout of the ApiToken.
	req, _ := http.NewRequest("POST", s.URL+"/api2/v1/auth/logout", nil)
	req.Header.Set("Authorization", "ApiToken "+c.apiToken)
	s.Do(t, req)
	admin := appsAdmin(t, s)
	csrf := appsCSRF(t, admin, "/settings/users")
	admin.Post(t, "/settings/users/"+lena.UID+"/role", url.Values{"csrf_token": {csrf}, "role": {"GUEST"}})
	s.Clock.Advance(time.Second) // events of one microsecond have no order
	admin.Post(t, "/settings/users/"+lena.UID+"/deactivate", url.Values{"csrf_token": {csrf}, "confirm": {"1"}})
	secrets := []string{c.apiToken, c.access, c.refresh, c.pat, c.apiKey, c.platform, c.jwt, c.clientSecret,
		rot["access_token"], rot["refresh_token"], "lena-password-1", "wrong-password-9", tolktest.AdminPassword}
	s.Tolk.Audit.Flush() // token events are written behind the response
	return lena, c, secrets
}

// TestT36_AuditHasNoSecrets: after a full flow, neither the audit table
// nor the log lines contain any issued token, secret or password, nor
// their SHA-256 hashes.
func TestT36_AuditHasNoSecrets(t *testing.T) {
	s := tolktest.New(t)
	_, _, secrets := auditFlow(t, s)
	events, err := s.Store.ListAuditEvents(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) < 10 {
		t.Fatalf("only %d events", len(events))
	}
	table, _ := json.Marshal(events)
	logs := s.Logs.String()
	for _, sec := range secrets {
		if sec == "" {
			t.Fatal("a secret of the flow is empty")
		}
		for _, v := range []string{sec, hashHex(sec)} {
			if strings.Contains(string(table), v) {
				t.Errorf("audit table contains %q", v)
			}
			if strings.Contains(logs, v) {
				t.Errorf("log contains %q", v)
			}
		}
	}
}

// TestAuditEvents: the flow's events are in the table with their outcome,
// actor and client, and each was logged once at info level.
func TestAuditEvents(t *testing.T) {
	s := tolktest.New(t)
	lena, c, _ := auditFlow(t, s)
	events, err := s.Store.ListAuditEvents(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := s.Store.GetUserByUserName(context.Background(), "admin")
	type key struct{ typ, outcome, actor, subject, client string }
	got := map[key]bool{}
	for _, e := range events {
		got[key{e.Type, e.Outcome, e.ActorUID, e.SubjectUID, e.ClientID}] = true
		if e.OrgUID != admin.OrgUID && e.Type != audit.PlatformExchanged {
			t.Errorf("event %s has org %q", e.Type, e.OrgUID)
		}
	}
	want := []key{
		{audit.UserCreated, "success", "", lena.UID, ""},
		{audit.Login, "failure", "", lena.UID, ""},
		{audit.Login, "success", lena.UID, "", ""},
		{audit.ConsentGiven, "success", lena.UID, "", c.clientID},
		// Issuance is counted per app, grant and minute, with no user
		// (issue 20 point 2); the counts are checked below.
		{audit.TokenIssued, "success", "", "", c.clientID},
		{audit.RefreshReuse, "denied", lena.UID, "", c.clientID},
		{audit.AppCreated, "success", "", "", c.clientID},
		{audit.PATCreated, "success", lena.UID, "", ""},
		{audit.APIKeyCreated, "success", "", lena.UID, ""},
		{audit.PlatformCreated, "success", lena.UID, "", ""},
		{audit.APITokenLogout, "success", lena.UID, "", ""},
		{audit.UserRoleChanged, "success", admin.UID, lena.UID, ""},
		{audit.UserDeactivated, "success", admin.UID, lena.UID, ""},
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no event %+v", w)
		}
	}
	// The app's tokens: one by its code, one by the refresh token's
	// rotation (the reuse is refused, a refresh_reuse row). The exchange
	// is counted under its Platform token, which lena created.
	issued := map[string]int{}
	var platformID string
	exchanged := 0
	for _, e := range events {
		if e.Type == audit.PlatformCreated && e.ActorUID == lena.UID {
			platformID = e.Details["token_id"]
		}
	}
	for _, e := range events {
		n, _ := strconv.Atoi(e.Details["count"])
		if e.Type == audit.TokenIssued && e.ClientID == c.clientID && e.Outcome == "success" {
			issued[e.Details["grant_type"]] += n
		}
		if e.Type == audit.PlatformExchanged && platformID != "" && e.ClientID == platform.ClientIDPrefix+platformID {
			exchanged += n
		}
		if e.Type == audit.Login && e.Outcome == "failure" && e.Details["dialect"] != "tms" {
			t.Errorf("failed login details: %v", e.Details)
		}
		// A count stands for many requests: it has no address.
		if e.ClientAddr != "127.0.0.1" && e.Type != audit.UserCreated && e.Type != audit.AppCreated &&
			e.Type != audit.PATCreated && e.Type != audit.APIKeyCreated && e.Type != audit.PlatformCreated && e.Details["count"] == "" {
			t.Errorf("event %s address %q", e.Type, e.ClientAddr)
		}
	}
	if fmt.Sprint(issued) != "map[authorization_code:1 refresh_token:1]" {
		t.Errorf("issued tokens counted by grant: %v, want one by code, one by refresh", issued)
	}
	if exchanged != 1 {
		t.Errorf("%d exchanges of lena's Platform token %q counted, want 1", exchanged, platformID)
	}
	// One info line per event, with the same id.
	logs := s.Logs.String()
	for _, e := range events {
		if n := strings.Count(logs, "audit_id="+e.ID); n != 1 {
			t.Errorf("event %s logged %d times", e.Type, n)
		}
	}
	if !regexp.MustCompile(`level=INFO msg=audit audit_id=[0-9a-f]{32} type=user.deactivated outcome=success actor=` + admin.UID).MatchString(logs) {
		t.Error("no deactivation log line")
	}
}

// TestAuditLogPage: admins see their organization's events newest first,
// can filter by type and user and page back; non-admins get 403 (see
// TestUsersPageRefusals).
func TestAuditLogPage(t *testing.T) {
	s := tolktest.New(t)
	lena, _, _ := auditFlow(t, s)
	admin := appsAdmin(t, s)
	p := admin.Get(t, "/settings/audit")
	if p.Status != 200 || !strings.Contains(p.Body, `<label for="type">Event type</label>`) || !strings.Contains(p.Body, `<label for="user">User</label>`) {
		t.Fatalf("page: %d %s", p.Status, p.Body)
	}
	// Newest first: the deactivation came after the role change.
	if i, j := strings.Index(p.Body, `<td data-label="Event type">user.deactivated</td>`), strings.Index(p.Body, `<td data-label="Event type">user.role_changed</td>`); i < 0 || j < 0 || i > j {
		t.Errorf("order: deactivated at %d, role change at %d", i, j)
	}
	// An issuance count reads as one: its count, first and last among
	// the details, and the page says what it stands for.
	p = admin.Get(t, "/settings/audit?type="+audit.TokenIssued)
	if !strings.Contains(p.Body, "counted per app, grant, organization and minute") ||
		!regexp.MustCompile(`<td data-label="Details"><span class="detail">count=1</span> <span class="detail">first=[0-9T:.-]+Z</span> <span class="detail">grant_type=authorization_code</span> <span class="detail">last=[0-9T:.-]+Z</span>`).MatchString(p.Body) {
		t.Errorf("token_issued page: %s", p.Body)
	}
	p = admin.Get(t, "/settings/audit?type=pat.created&user="+lena.UID)
	if p.Status != 200 || strings.Count(p.Body, `<td data-label="Event type">pat.created</td>`) != 1 || strings.Contains(p.Body, `<td data-label="Event type">login</td>`) {
		t.Errorf("filtered: %d %s", p.Status, p.Body)
	}
	// Paging: more events than a page, each shown once across pages.
	for range 60 {
		s.Tolk.Audit.Record(context.Background(), audit.Event{Type: audit.Login, ActorUID: lena.UID, OrgUID: lena.OrgUID})
	}
	seen := 0
	next := "/settings/audit?type=login"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p = admin.Get(t, next)
		seen += strings.Count(p.Body, `<td data-label="Event type">login</td>`)
		next = ""
		if m := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(p.Body); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	all, _ := s.Store.ListAuditEvents(context.Background(), store.AuditFilter{OrgUID: lena.OrgUID, Type: audit.Login, Limit: 1000})
	if seen != len(all) || seen < 60 {
		t.Errorf("saw %d login events over the pages, want %d", seen, len(all))
	}
	// Another organization's events are not shown.
	s.Tolk.Audit.Record(context.Background(), audit.Event{Type: audit.Logout, OrgUID: "other-org", Details: map[string]string{"note": "elsewhere"}})
	if p := admin.Get(t, "/settings/audit?type=logout"); strings.Contains(p.Body, "elsewhere") {
		t.Error("other organization's event shown")
	}
	_ = oauthflow.HiddenFields
}

// hashHex is the stored form of a secret (hex SHA-256).
func hashHex(s string) string { return secret.Hash(s) }
