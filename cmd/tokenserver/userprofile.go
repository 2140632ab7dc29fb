package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// appendListFlag is a list flag that may be repeated and also takes a
// comma-separated list: --role a --role b,c is [a b c].
type appendListFlag []string

func (l *appendListFlag) String() string { return strings.Join(*l, ",") }

func (l *appendListFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// attrFlag collects --attribute name=value (a JSON string) or, with
// asJSON, --attribute-json name=JSON into one map; a later name wins.
type attrFlag struct {
	m      map[string]json.RawMessage
	asJSON bool
}

func (a *attrFlag) String() string { return "" }

func (a *attrFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || !store.ValidAttributeName(name) {
		return fmt.Errorf("want NAME=VALUE with NAME a letter, then letters, digits, '_' or '-' (got %q)", s)
	}
	var raw json.RawMessage
	if a.asJSON {
		if !json.Valid([]byte(value)) {
			return fmt.Errorf("%s: not one JSON value", name)
		}
		raw = json.RawMessage(value)
	} else {
		b, err := json.Marshal(value)
		if err != nil {
			return err
		}
		raw = b
	}
	if a.m == nil {
		a.m = map[string]json.RawMessage{}
	}
	a.m[name] = raw
	return nil
}

// profileFlags are the profile flags of `user add` and `user update`.
type profileFlags struct {
	email      string
	roles      appendListFlag
	attrs      attrFlag
	jsonAttrs  attrFlag
	clearRoles bool
	removeAttr appendListFlag
}

// register adds the flags; update adds the ones that only make sense for
// an existing user. All are flag-only: one user's settings never come
// from the environment.
func (p *profileFlags) register(fs *flag.FlagSet, update bool) {
	p.jsonAttrs.asJSON = true
	fs.StringVar(&p.email, "email", "", "the user's email address (unique; \"\" clears it on update)")
	fs.Var(&p.roles, "role", "a role (repeatable, or comma-separated); on update, replaces the user's roles")
	fs.Var(&p.attrs, "attribute", "an attribute NAME=VALUE, VALUE a string (repeatable)")
	fs.Var(&p.jsonAttrs, "attribute-json", "an attribute NAME=JSON, e.g. level=3 or tags='[\"a\"]' (repeatable)")
	names := []string{"email", "role", "attribute", "attribute-json"}
	if update {
		fs.BoolVar(&p.clearRoles, "clear-roles", false, "remove every role")
		fs.Var(&p.removeAttr, "remove-attribute", "remove an attribute by name (repeatable, or comma-separated)")
		names = append(names, "clear-roles", "remove-attribute")
	}
	setFlagOnly(fs, names...)
}

// apply returns cur changed by the flags that were set on the command line.
func (p *profileFlags) apply(fs *flag.FlagSet, cur store.UserProfile) (store.UserProfile, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	out := cur
	if set["email"] {
		email, err := store.NormalizeEmail(strings.TrimSpace(p.email))
		if err != nil {
			return out, fmt.Errorf("--email: %s", profileMessage(err))
		}
		out.Email = email
	}
	if p.clearRoles && len(p.roles) > 0 {
		return out, errors.New("--clear-roles and --role exclude each other")
	}
	if p.clearRoles {
		out.Roles = nil
	}
	if set["role"] {
		for _, r := range p.roles {
			if !store.ValidRole(r) {
				return out, fmt.Errorf("--role: invalid role %q (1 to %d printable ASCII characters, no space, quote, backslash or comma)",
					r, store.MaxRoleBytes)
			}
		}
		out.Roles = store.NormalizeRoles(p.roles)
	}
	attrs := make(map[string]json.RawMessage, len(cur.Attributes))
	for k, v := range cur.Attributes {
		attrs[k] = v
	}
	for _, k := range p.removeAttr {
		if _, ok := attrs[k]; !ok {
			return out, fmt.Errorf("--remove-attribute: the user has no attribute %q", k)
		}
		delete(attrs, k)
	}
	for _, m := range []map[string]json.RawMessage{p.attrs.m, p.jsonAttrs.m} {
		for k, v := range m {
			attrs[k] = v
		}
	}
	out.Attributes = attrs
	if err := store.CheckUserProfile(out); err != nil {
		// The bounds (roles, attributes and their size) in one line.
		return out, errors.New(profileMessage(err))
	}
	return out, nil
}

// profileMessage is a store profile error's message without the
// sentinel's text.
func profileMessage(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+store.ErrInvalidProfile.Error())
}

// policyFlags are the password policy flags of every command that sets a
// password. They have environment twins, so an operator sets the policy
// once (TOKENSERVER_PASSWORD_MIN_LENGTH, TOKENSERVER_PASSWORD_BLOCKLIST).
type policyFlags struct {
	minLength int
	blocklist string
}

func (p *policyFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&p.minLength, "password-min-length", password.DefaultMinLength,
		fmt.Sprintf("the fewest characters (Unicode code points after NFC) a new password may have; at least %d", password.FloorMinLength))
	fs.StringVar(&p.blocklist, "password-blocklist", "",
		"a file of known-breached passwords' digests (sorted lower-case hex SHA-1 or SHA-256, one per line) to refuse")
}

// policy opens the blocklist, if any, and returns the policy and a func
// that closes it.
func (p *policyFlags) policy() (password.Policy, func(), error) {
	pol := password.Policy{MinLength: p.minLength}
	if err := pol.Validate(); err != nil {
		return pol, nil, fmt.Errorf("--password-min-length: %w", err)
	}
	if p.blocklist == "" {
		return pol, func() {}, nil
	}
	bl, err := password.OpenBlocklist(p.blocklist)
	if err != nil {
		return pol, nil, fmt.Errorf("--password-blocklist: %w", err)
	}
	pol.Blocklist = bl
	return pol, func() { bl.Close() }, nil
}

func userUpdate(ctx context.Context, e env, args []string) error {
	var pf profileFlags
	var fs *flag.FlagSet
	b, _, u, err := existingUserCommand(ctx, e, "update", args, func(f *flag.FlagSet) {
		fs = f
		pf.register(f, true)
	})
	if err != nil {
		return err
	}
	defer b.Close()
	p, err := pf.apply(fs, u.Profile())
	if err != nil {
		return err
	}
	// A profile change ends no session: the next refresh carries it.
	err = b.users.UpdateUserProfile(ctx, u.ID, p, time.Now())
	switch {
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("email %q belongs to another user", p.Email)
	case err != nil:
		return fmt.Errorf("update user: %w", err)
	}
	fmt.Fprintf(e.stdout, "user %s updated; roles and attributes reach tokens at their next refresh\n", u.Username)
	return nil
}
