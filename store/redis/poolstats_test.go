package redis

import "testing"

// PoolStats reports the client's pool: a command opens a connection, and
// the next one reuses it (a hit).
func TestPoolStats(t *testing.T) {
	s, _ := openStore(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := s.PoolStats()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	after := s.PoolStats()
	if after.TotalConns < 1 || after.Hits != before.Hits+1 {
		t.Fatalf("pool stats %+v after %+v; want a connection and one more hit", after, before)
	}
}
