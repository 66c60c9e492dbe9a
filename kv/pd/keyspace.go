package pd

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	pdclient "github.com/tikv/pd/client"

	"github.com/tikvsql/tikvsql/internal/codec"
	"github.com/tikvsql/tikvsql/kv"
)

// Keyspace is the metadata of an API v2 keyspace as PD stores it (PD-15). Values are
// immutable snapshots.
type Keyspace struct {
	ID     codec.KeyspaceID
	Name   string
	State  keyspacepb.KeyspaceState
	Config map[string]string // PD's keyspace config (copied)
	// KeyspaceLevelGC reports that the keyspace runs its own GC (its own txn safe point
	// and barriers) instead of the cluster-wide one.
	KeyspaceLevelGC bool
}

// LoadKeyspace loads the keyspace named name ("" means "DEFAULT") and checks that it can
// serve requests: it must be ENABLED and addressed by a 24-bit ID (keyspaces that carry an
// API v3 identity are refused). Safe for concurrent use.
//
// Errors: kv.ErrKeyspaceNotFound, kv.ErrKeyspaceDisabled, kv.ErrAPIVersionMismatch (API v3
// keyspace, or a PD without keyspace support), a *kv.BackoffError wrapping
// kv.ErrPDUnavailable, ctx's error.
func (c *Client) LoadKeyspace(ctx context.Context, name string) (*Keyspace, error) {
	if name == "" {
		name = codec.DefaultKeyspaceName
	}
	op := fmt.Sprintf("load keyspace %q", name)
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	var meta *keyspacepb.KeyspaceMeta
	err := c.retry(ctx, op, c.cfg.RPCBudget, func(ctx context.Context) error {
		var err error
		meta, err = c.b.LoadKeyspace(ctx, name)
		if err == nil && meta == nil {
			return permanent(kv.ErrKeyspaceNotFound)
		}
		switch {
		case err == nil:
			return nil
		case classify(err) == classNotFound:
			return permanent(fmt.Errorf("%w: %w", kv.ErrKeyspaceNotFound, sanitize(err)))
		case classify(err) == classUnsupported:
			return permanent(fmt.Errorf("PD has no keyspace service (API v1 cluster?): %w: %w",
				kv.ErrAPIVersionMismatch, sanitize(err)))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return keyspaceFromMeta(meta)
}

// keyspaceFromMeta validates meta and converts it.
func keyspaceFromMeta(meta *keyspacepb.KeyspaceMeta) (*Keyspace, error) {
	if _, v3 := meta.GetKeyspace().(*keyspacepb.KeyspaceMeta_KeyspaceIdentity); v3 {
		return nil, fmt.Errorf("pd: keyspace %q uses an API v3 identity: %w", meta.GetName(), kv.ErrAPIVersionMismatch)
	}
	if meta.GetState() != keyspacepb.KeyspaceState_ENABLED {
		return nil, fmt.Errorf("pd: keyspace %q is %v: %w", meta.GetName(), meta.GetState(), kv.ErrKeyspaceDisabled)
	}
	id := codec.KeyspaceID(meta.GetId())
	if id > codec.MaxKeyspaceID {
		return nil, fmt.Errorf("pd: keyspace %q has ID %d: %w", meta.GetName(), id, kv.ErrAPIVersionMismatch)
	}
	cfg := make(map[string]string, len(meta.GetConfig()))
	for k, v := range meta.GetConfig() {
		cfg[k] = v
	}
	return &Keyspace{
		ID:              id,
		Name:            meta.GetName(),
		State:           meta.GetState(),
		Config:          cfg,
		KeyspaceLevelGC: cfg[pdclient.KeyspaceConfigGCManagementType] == pdclient.KeyspaceConfigGCManagementTypeKeyspaceLevel,
	}, nil
}

// gcKeyspaceID is the keyspace the GC states API is addressed to: the client's keyspace
// under API v2 (PD maps a keyspace without keyspace-level GC to the cluster-wide state),
// the null keyspace under API v1.
func (c *Client) gcKeyspaceID() uint32 {
	if c.ks != nil {
		return uint32(c.ks.ID)
	}
	return uint32(codec.NullspaceID)
}

// gcControllerKeyspaceID is the keyspace GC is driven for: the client's keyspace when it
// runs keyspace-level GC, the null keyspace (cluster-wide GC) otherwise. PD accepts the
// advance calls only there.
func (c *Client) gcControllerKeyspaceID() uint32 {
	if c.ks != nil && c.ks.KeyspaceLevelGC {
		return uint32(c.ks.ID)
	}
	return uint32(codec.NullspaceID)
}
