package identity

import (
	"context"
	"strings"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/store"
)

// The users page's list and Edit (SPEC §8): an admin searches and pages
// through the users of their organization, and changes another user's
// email, names and role.

// UsersPageSize is how many users one page of the list shows.
const UsersPageSize = 50

// maxUserQuery bounds a search (a form may carry a mebibyte).
const maxUserQuery = 254

// SearchOrgUsers returns the page (from 1) of the admin's organization's
// users whose user name or email contains query, ignoring case, and how
// many match in all.
func (s *Service) SearchOrgUsers(ctx context.Context, admin store.User, query string, page int) ([]store.User, int, error) {
	if admin.Role != store.RoleAdmin {
		return nil, 0, ErrForbidden
	}
	query = strings.TrimSpace(query)
	if len(query) > maxUserQuery || !store.ValidText(query) {
		return nil, 0, nil
	}
	page = max(page, 1)
	return s.Store.SearchUsers(ctx, admin.OrgUID, query, (page-1)*UsersPageSize, UsersPageSize)
}

// OrgUser returns the user uid of the admin's organization (for the Edit
// form); ErrNotFound for another organization's, ErrSelf for the admin.
func (s *Service) OrgUser(ctx context.Context, admin store.User, uid string) (store.User, error) {
	return s.orgUser(ctx, admin, uid)
}

// UserEdit is what an admin may change of another user.
type UserEdit struct {
	Email, FirstName, LastName string
	Role                       store.Role
}

// EditUser changes the email, names and role of the user uid of the
// admin's organization: one audit event for the profile fields that
// changed (user.edited, their names only) and one for the role. The
// user's language stays theirs. ErrConflict when the email is another
// user's.
func (s *Service) EditUser(ctx context.Context, admin store.User, uid string, e UserEdit) (store.User, error) {
	u, err := s.orgUser(ctx, admin, uid)
	if err != nil {
		return store.User{}, err
	}
	if !e.Role.Valid() {
		return store.User{}, &ValidationError{"role", "must be one of ADMIN, PROJECT_MANAGER, LINGUIST, GUEST, SUBMITTER"}
	}
	p := store.Profile{FirstName: strings.TrimSpace(e.FirstName), LastName: strings.TrimSpace(e.LastName),
		Email: strings.TrimSpace(e.Email), Language: u.Language}
	if err := validateProfile(p); err != nil {
		return store.User{}, err
	}
	if fields := changedFields(u, p); len(fields) > 0 {
		if u, err = s.updateProfile(ctx, u, p, fields, audit.UserEdited); err != nil {
			return store.User{}, err
		}
	}
	if e.Role != u.Role {
		if err := s.SetRole(ctx, admin, uid, e.Role); err != nil {
			return store.User{}, err
		}
		u.Role = e.Role
	}
	return u, nil
}
