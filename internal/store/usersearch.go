package store

import "context"

// UserSearch pages through an organization's users for the admin's list
// (SPEC §8: search and pages on the users page), so that the page never
// loads every user.
type UserSearch interface {
	// SearchUsers returns at most limit users of the organization, oldest
	// first, after skipping offset, whose user name or email contains
	// query, ignoring case ("" matches all; % and _ are plain characters);
	// and how many match in all.
	SearchUsers(ctx context.Context, orgUID, query string, offset, limit int) ([]User, int, error)
}
