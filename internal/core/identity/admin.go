package identity

import (
	"context"
	"errors"

	"github.com/tolk-project/tolk/internal/core/accesstoken"
	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/store"
)

// User administration (SPEC §5 "Admin: users (create, deactivate, role)").
// Every operation is an ADMIN's on a user of the admin's own organization;
// users of other organizations are reported absent (ErrNotFound), so an
// admin cannot probe them.

// ErrSelf: an admin may not deactivate themselves or change their own
// role, which could leave an organization without an admin.
var ErrSelf = errors.New("identity: admins cannot deactivate themselves or change their own role")

// OrgUsers returns the users of the admin's organization, oldest first.
func (s *Service) OrgUsers(ctx context.Context, admin store.User) ([]store.User, error) {
	if admin.Role != store.RoleAdmin {
		return nil, ErrForbidden
	}
	all, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.User
	for _, u := range all {
		if u.OrgUID == admin.OrgUID {
			out = append(out, u)
		}
	}
	return out, nil
}

// orgUser loads uid for an admin operation.
func (s *Service) orgUser(ctx context.Context, admin store.User, uid string) (store.User, error) {
	if admin.Role != store.RoleAdmin {
		return store.User{}, ErrForbidden
	}
	if !store.ValidText(uid) {
		return store.User{}, ErrNotFound
	}
	u, err := s.Store.GetUser(ctx, uid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.OrgUID != admin.OrgUID) {
		return store.User{}, ErrNotFound
	}
	if err != nil {
		return store.User{}, err
	}
	if u.UID == admin.UID {
		return store.User{}, ErrSelf
	}
	return u, nil
}

// SetActive deactivates or reactivates a user. Deactivation ends, in one
// transaction, every web session, ApiToken and OAuth token (whole refresh
// families) of the user; their PATs, API keys and Platform API tokens (and
// the JWTs exchanged from them) are refused by every verifier from then on,
// because each checks that the user is active on every request.
func (s *Service) SetActive(ctx context.Context, admin store.User, uid string, active bool) error {
	u, err := s.orgUser(ctx, admin, uid)
	if err != nil {
		return err
	}
	if err := s.setActive(ctx, u.UID, active); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		return err
	}
	typ := audit.UserDeactivated
	if active {
		typ = audit.UserReactivated
	}
	s.Audit.Record(ctx, audit.Event{Type: typ, ActorUID: admin.UID, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"user_name": u.UserName}})
	return nil
}

// SetRole changes a user's role.
func (s *Service) SetRole(ctx context.Context, admin store.User, uid string, role store.Role) error {
	if !role.Valid() {
		return &ValidationError{"role", "must be one of ADMIN, PROJECT_MANAGER, LINGUIST, GUEST, SUBMITTER"}
	}
	u, err := s.orgUser(ctx, admin, uid)
	if err != nil {
		return err
	}
	if u.Role == role {
		return nil
	}
	defer s.Revocations.Revoked()
	if err := s.Store.SetUserRole(ctx, u.UID, role, s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		return err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.UserRoleChanged, ActorUID: admin.UID, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"user_name": u.UserName, "from": string(u.Role), "to": string(role)}})
	return nil
}

// setActive (de)activates the user. A deactivation also cuts the user's
// self-contained access tokens, which have no rows to delete: a later
// reactivation must not bring them back. The caches forget the user's
// verifications when it returns.
func (s *Service) setActive(ctx context.Context, uid string, active bool) error {
	defer s.Revocations.Revoked()
	now := s.now()
	return s.Store.SetUserActive(ctx, uid, active, now, accesstoken.Cutoff(store.UserCutoffKey(uid), now, s.AccessTokenTTL))
}
