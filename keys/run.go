package keys

import (
	"context"
	"errors"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Run keeps the set fresh until ctx ends, then returns ctx.Err(). Every
// RefreshInterval it re-reads the set and does the scheduled work
// (Maintain); it also re-reads whenever the store's KeyWatcher signals a
// change by another instance. Errors are logged and retried on the next
// tick; the last good snapshot stays live meanwhile (Ready reports a set
// that has not been re-read for too long). A Manager with PEM keys just
// waits.
func (m *Manager) Run(ctx context.Context) error {
	if m.store == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	watcher, _ := m.store.(store.KeyWatcher)
	var changes <-chan struct{}
	subscribe := func() {
		if watcher == nil || changes != nil {
			return
		}
		c, err := watcher.WatchKeys(ctx)
		if err != nil {
			m.log.Warn("keys: watch key changes; falling back to periodic re-reads", "err", err)
			return
		}
		changes = c
	}
	subscribe()
	m.lastLoad.Store(m.cfg.Now().UnixNano())
	m.running.Store(true) // after subscribing: tests wait on it
	defer m.running.Store(false)

	ticker := time.NewTicker(m.cfg.RefreshInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-changes:
			if !ok {
				changes = nil // resubscribe on the next tick
				continue
			}
			m.reloadLogged(ctx)
		case <-ticker.C:
			m.reloadLogged(ctx)
			if err := m.Maintain(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("keys: scheduled maintenance", "err", err)
			}
			subscribe()
		}
	}
}

func (m *Manager) reloadLogged(ctx context.Context) {
	if err := m.Reload(ctx); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		m.log.Error("keys: reload key set", "err", err)
	}
}
