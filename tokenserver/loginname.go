package tokenserver

import "github.com/tokenserver/tokenserver/tokenserver/username"

// loginUsername returns the canonical form of the password grant's username
// parameter (username.Normalize, RFC 8265 UsernameCaseMapped), the form in
// which the CLI stores usernames, so that look-alike spellings of one name
// ("josé" in NFC or NFD, full-width letters, any case) are one account and
// one throttle counter.
//
// A name the profile refuses is invalid_request (RFC 6749 §5.2: "includes
// an unsupported parameter value"), answered before the throttle and
// without a password hash. This reveals nothing about accounts: the answer
// depends on the string alone, and no account can be created under such a
// name. invalid_grant would claim that credentials were checked, and would
// cost a dummy hash and a throttle entry for a request that can never
// succeed.
func loginUsername(raw string) (string, error) {
	name, err := username.Normalize(raw)
	if err != nil {
		return "", invalidRequest("username is not a valid username (RFC 8265)")
	}
	return name, nil
}
