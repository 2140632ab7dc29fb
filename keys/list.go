package keys

import (
	"context"
)

// List reads the key set from cfg.Store and describes it as Manager.Keys
// would, without creating, rotating or pruning anything: it is the read-only
// path behind `tokenserver keys list` (NewManager creates missing keys).
// With cfg.Sealer set every stored key is opened, so a wrong KEK fails here
// (wrapping ErrWrongKEK) as it would at server start.
func List(ctx context.Context, cfg Config) ([]KeyInfo, error) {
	m, err := loadManager(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return m.Keys(), nil
}
