package postgres

import (
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store/storetest"
)

// PoolStat reports the pool the store uses: its configured size and the
// acquisitions its calls make.
func TestPoolStat(t *testing.T) {
	s, err := Open(t.Context(), Config{URL: storetest.StartPostgres(t), MaxConns: 7, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	before := s.PoolStat().AcquireCount()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := s.PoolStat()
	if st.MaxConns() != 7 || st.TotalConns() < 1 || st.AcquireCount() != before+1 {
		t.Fatalf("after one Ping: max %d, total %d, acquires %d (before %d); want 7, >= 1, before+1",
			st.MaxConns(), st.TotalConns(), st.AcquireCount(), before)
	}
}
