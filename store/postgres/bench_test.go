package postgres

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRotate measures one refresh-token rotation: serially along one
// family, and in parallel with one family per goroutine (a rotation per
// request is the server's hot write).
func BenchmarkRotate(b *testing.B) {
	s := newTestStore(b)
	fx := newRotateFixture(b, s)
	b.Run("Serial", func(b *testing.B) {
		_, hash := fx.newFamily(b)
		for b.Loop() {
			req := fx.request(b, hash)
			if _, err := s.Rotate(b.Context(), req); err != nil {
				b.Fatal(err)
			}
			hash = req.New.Hash
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			_, hash := fx.newFamily(b)
			for pb.Next() {
				req := fx.request(b, hash)
				if _, err := s.Rotate(b.Context(), req); err != nil {
					b.Error(err)
					return
				}
				hash = req.New.Hash
			}
		})
	})
}

// BenchmarkCommitFloor is the cheapest durable write: one single-row INSERT
// committed on its own, at the same parallelism as BenchmarkRotate. Rotate
// cannot beat it; the gap is what the rotation itself costs.
func BenchmarkCommitFloor(b *testing.B) {
	s := newTestStore(b)
	if _, err := s.pool.Exec(b.Context(), `CREATE TABLE commit_floor (id bigint PRIMARY KEY, at timestamptz NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	var id atomic.Int64
	insert := func(b *testing.B) error {
		_, err := s.pool.Exec(b.Context(), `INSERT INTO commit_floor (id, at) VALUES ($1, $2)`, id.Add(1), time.Now())
		return err
	}
	b.Run("Serial", func(b *testing.B) {
		for b.Loop() {
			if err := insert(b); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := insert(b); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
