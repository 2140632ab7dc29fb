package testservers

// DataDir returns the data directory of a server StartPostgresServer started,
// or "" for ConnectPostgresServer. Fault-injection tests use it to find the
// postmaster (postmaster.pid) and its exact command line (postmaster.opts),
// so they can stop, restart, freeze and thaw the server in place. The
// directory belongs to the server: Stop removes it.
func (s *PostgresServer) DataDir() string { return s.dataDir }
