package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/metrics"
)

// auditFlags are the audit log settings.
type auditFlags struct {
	// log is a file path (appended, 0600), "-" for the standard stream, or
	// empty for no audit log.
	log string
	// reasons: login.failed tells an unknown user from a wrong password.
	reasons bool
}

// registerLog registers --audit-log (serve and every admin command: an
// admin command run in the servers' environment writes to the same log).
func (a *auditFlags) registerLog(fs *flag.FlagSet) {
	fs.StringVar(&a.log, "audit-log", "", "audit event log (one JSON object per line): a file path, appended, created 0600; - for standard output (standard error for admin commands); empty: off")
}

// registerServe registers the server's audit flags.
func (a *auditFlags) registerServe(fs *flag.FlagSet) {
	a.registerLog(fs)
	fs.BoolVar(&a.reasons, "audit-reasons", false, "login.failed events say unknown_user, wrong_password or disabled and name the user id (otherwise invalid_credentials, no subject)")
}

// openAuditLog opens the audit writer of --audit-log: nil when off. std is
// the stream "-" means. The returned close flushes the queue and closes the
// file.
func openAuditLog(path string, std io.Writer, now func() time.Time, logger *slog.Logger) (*audit.Writer, func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	out, closeOut := std, func() error { return nil }
	if path != "-" {
		// 0600: the log names users and clients and their IP addresses.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("--audit-log [%s]: %w", envName("audit-log"), err)
		}
		out, closeOut = f, f.Close
	}
	w := audit.NewWriterWith(out, now, audit.WriterOptions{Logger: logger})
	return w, func() {
		_ = w.Close()
		if err := closeOut(); err != nil {
			logger.Error("audit: closing the audit log", "error", err)
		}
	}, nil
}

// serveAudit builds the server's audit sink: the --audit-log writer (when
// set) and the security counters, which count the same events whether or
// not they are written. reg is where the counters register (nil: metrics
// are off, no counters); clients is the client-label allowlist
// (--metrics-clients).
func serveAudit(a auditFlags, std io.Writer, now func() time.Time, logger *slog.Logger,
	reg prometheus.Registerer, clients []string) (audit.Sink, func(), error) {
	w, closeLog, err := openAuditLog(a.log, std, now, logger)
	if err != nil {
		return nil, nil, err
	}
	var sinks audit.Sinks
	if w != nil {
		sinks = append(sinks, w)
	}
	if reg != nil {
		sinks = append(sinks, metrics.NewSecurity(reg, clients))
	}
	if len(sinks) == 0 {
		return nil, closeLog, nil
	}
	return sinks, closeLog, nil
}

// openAdminAudit opens the audit log of an admin command into b: its
// events say actor "cli". "-" is standard error, since standard output
// carries the command's own output (tables, --json).
func openAdminAudit(_ context.Context, e env, a *adminFlags, b *backends) error {
	w, closeLog, err := openAuditLog(a.audit.log, e.stderr, time.Now, newLogger(e.stderr, "warn", "text"))
	if err != nil {
		return err
	}
	if w != nil {
		b.audit = w
		b.closers = append(b.closers, closeLog)
	}
	return nil
}
