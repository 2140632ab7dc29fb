package keys

import (
	"context"
	"errors"
)

// List reads the key set from cfg.Store and describes it as Manager.Keys
// would, without creating, rotating or pruning anything: it is the read-only
// path behind `tokenserver keys list` (NewManager creates missing keys).
// With cfg.Sealer set every stored key is opened, so a wrong KEK fails here
// (wrapping ErrWrongKEK) as it would at server start.
func List(ctx context.Context, cfg Config) ([]KeyInfo, error) {
	if cfg.Store == nil {
		return nil, errors.New("keys: Config.Store is required")
	}
	if cfg.Sealer == nil {
		return nil, errors.New("keys: Config.Sealer is required")
	}
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	m := newManager(cfg)
	m.store, m.sealer = cfg.Store, cfg.Sealer
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	return m.Keys(), nil
}
