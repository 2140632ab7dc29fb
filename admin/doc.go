// Package admin is the one home of tokenserver's administration rules:
// creating and changing users and clients, listing and ending sessions,
// rotating signing keys. Its two front ends, the `tokenserver` CLI
// (cmd/tokenserver) and the HTTP admin API (package admin/adminhttp), only
// parse input and print output; neither holds a rule of its own.
//
// Every credential change and every revocation goes through package
// sessions, exactly as the token endpoint's own revocations do.
//
// Errors: a *ValidationError names the refused field; ErrNotFound and
// ErrExists wrap store.ErrNotFound and store.ErrConflict; store errors
// (store.ErrUnavailable) and password.ErrBusy pass through wrapped.
package admin
