package memcluster

import (
	"fmt"
	"maps"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/keyspacepb"
)

// SetKeyspaceConfig merges cfg into the configuration of keyspace name, as PD's keyspace
// config API does; for example {"gc_management_type": "keyspace_level"} gives the keyspace
// its own GC safe points. Clients read it when they load the keyspace.
func (c *Cluster) SetKeyspaceConfig(name string, cfg map[string]string) error {
	m := c.pd.meta
	m.mu.Lock()
	defer m.mu.Unlock()
	ks, ok := m.keyspaces[name]
	if !ok {
		return fmt.Errorf("%w: keyspace %q", ErrNotFound, name)
	}
	nk := proto.Clone(ks).(*keyspacepb.KeyspaceMeta)
	if nk.Config == nil {
		nk.Config = map[string]string{}
	}
	maps.Copy(nk.Config, cfg)
	m.keyspaces[name] = nk
	m.notifyLocked()
	return nil
}
