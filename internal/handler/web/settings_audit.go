package web

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/store"
)

// Admin → Audit log (/settings/audit): an ADMIN reads the security events
// of their organization, newest first, filtered by event type and user,
// a page at a time (keyset pagination: "before" names the last event
// shown).

const auditPath = "/settings/audit"

// auditPageSize is how many events a page shows.
const auditPageSize = 50

type auditData struct {
	Events []auditRow
	Types  []string
	Users  []store.User
	Type   string // the filter's values
	User   string
	Older  string // URL of the next (older) page; "" at the end
	Newest string // URL of the first page, when not on it
}

type auditRow struct {
	Time, Type, Outcome, Actor, Subject, ClientID, Addr, RequestID string
	Details                                                        []auditDetail
}

type auditDetail struct{ Key, Value string }

// cursor encodes an event's position as "<unix micros>.<id>".
func cursor(e store.AuditEvent) string {
	return strconv.FormatInt(e.Time.UnixMicro(), 10) + "." + e.ID
}

func parseCursor(s string) (time.Time, string, bool) {
	m, id, ok := strings.Cut(s, ".")
	if !ok || len(id) > 64 || !store.ValidText(id) {
		return time.Time{}, "", false
	}
	v, err := strconv.ParseInt(m, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.UnixMicro(v).UTC(), id, true
}

func (h *Handler) AuditLog(w http.ResponseWriter, r *http.Request) {
	ws, admin, ok := h.adminPage(w, r, false, "", "audit.forbidden")
	if !ok {
		return
	}
	q := r.URL.Query()
	d := &auditData{Types: audit.Types, Type: q.Get("type"), User: q.Get("user")}
	users, err := h.ID.OrgUsers(r.Context(), admin)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	d.Users = users
	names := map[string]string{}
	for _, u := range users {
		names[u.UID] = u.UserName
	}
	// Only known types and the organization's users filter; anything else
	// is a bad request rather than an empty page.
	if (d.Type != "" && !slices.Contains(audit.Types, d.Type)) || (d.User != "" && names[d.User] == "") {
		h.errorPage(w, r, http.StatusBadRequest, "audit.bad_filter")
		return
	}
	f := store.AuditFilter{OrgUID: admin.OrgUID, Type: d.Type, UserUID: d.User, Limit: auditPageSize + 1}
	if b := q.Get("before"); b != "" {
		if f.BeforeTime, f.BeforeID, ok = parseCursor(b); !ok {
			h.errorPage(w, r, http.StatusBadRequest, "audit.bad_filter")
			return
		}
	}
	events, err := h.Audit.Events(r.Context(), f)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	link := func(before string) string {
		v := url.Values{}
		if d.Type != "" {
			v.Set("type", d.Type)
		}
		if d.User != "" {
			v.Set("user", d.User)
		}
		if before != "" {
			v.Set("before", before)
		}
		if len(v) == 0 {
			return auditPath
		}
		return auditPath + "?" + v.Encode()
	}
	if len(events) > auditPageSize {
		events = events[:auditPageSize]
		d.Older = link(cursor(events[len(events)-1]))
	}
	if !f.BeforeTime.IsZero() {
		d.Newest = link("")
	}
	who := func(uid string) string {
		if n := names[uid]; n != "" {
			return n
		}
		return uid
	}
	for _, e := range events {
		row := auditRow{Time: e.Time.Format("2006-01-02 15:04:05.000000 UTC"), Type: e.Type, Outcome: e.Outcome,
			Actor: who(e.ActorUID), Subject: who(e.SubjectUID), ClientID: e.ClientID, Addr: e.ClientAddr, RequestID: e.RequestID}
		for k, v := range e.Details {
			row.Details = append(row.Details, auditDetail{k, v})
		}
		sort.Slice(row.Details, func(i, j int) bool { return row.Details[i].Key < row.Details[j].Key })
		d.Events = append(d.Events, row)
	}
	l := h.localizer(r)
	h.render(w, r, http.StatusOK, "audit", page{L: l, Title: l.T("audit.title"), CSRF: ws.CSRFToken, User: &admin, Audit: d})
}
