package memcluster

import (
	"context"
	"fmt"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsql/tikvsql/internal/codec"
)

// CreateKeyspace creates an ENABLED keyspace named name (API v2) and, as PD does, splits
// regions at the boundaries of its raw and transactional key ranges. It returns the new
// keyspace's ID; creating an existing name returns its ID unchanged.
func (c *Cluster) CreateKeyspace(name string) (uint32, error) {
	m := c.pd.meta
	m.mu.Lock()
	if ks, ok := m.keyspaces[name]; ok {
		m.mu.Unlock()
		return ks.GetId(), nil
	}
	id := m.nextKS
	m.nextKS++
	now := c.clock().Unix()
	m.keyspaces[name] = &keyspacepb.KeyspaceMeta{
		Keyspace: &keyspacepb.KeyspaceMeta_Id{Id: id}, Name: name, State: keyspacepb.KeyspaceState_ENABLED,
		CreatedAt: now, StateChangedAt: now, Config: map[string]string{},
	}
	m.notifyLocked()
	m.mu.Unlock()
	var splits [][]byte
	for _, mode := range []codec.Mode{codec.ModeRaw, codec.ModeTxn} {
		cd, err := codec.NewV2(mode, codec.KeyspaceID(id))
		if err != nil {
			return 0, fmt.Errorf("memcluster: keyspace %q: %w", name, err)
		}
		s, e := cd.EncodeRegionRange(nil, nil)
		splits = append(splits, s, e)
	}
	if _, err := c.Split(splits...); err != nil {
		return 0, err
	}
	return id, nil
}

// SetKeyspaceState changes a keyspace's state (ENABLED, DISABLED, ARCHIVED, TOMBSTONE).
func (c *Cluster) SetKeyspaceState(name string, state keyspacepb.KeyspaceState) error {
	m := c.pd.meta
	m.mu.Lock()
	defer m.mu.Unlock()
	ks, ok := m.keyspaces[name]
	if !ok {
		return fmt.Errorf("%w: keyspace %q", ErrNotFound, name)
	}
	nk := proto.Clone(ks).(*keyspacepb.KeyspaceMeta)
	nk.State, nk.StateChangedAt = state, c.clock().Unix()
	m.keyspaces[name] = nk
	m.notifyLocked()
	return nil
}

// notifyLocked wakes keyspace watchers. Callers hold mu.
func (m *pdMeta) notifyLocked() {
	for ch := range m.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (m *pdMeta) all() []*keyspacepb.KeyspaceMeta {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*keyspacepb.KeyspaceMeta, 0, len(m.keyspaces))
	for id := uint32(0); id < m.nextKS; id++ {
		for _, ks := range m.keyspaces {
			if ks.GetId() == id {
				out = append(out, proto.Clone(ks).(*keyspacepb.KeyspaceMeta))
			}
		}
	}
	return out
}

// keyspaceServer implements keyspacepb.KeyspaceServer on PD's listener.
type keyspaceServer struct {
	keyspacepb.UnimplementedKeyspaceServer
	p *pdServer
}

func (k *keyspaceServer) find(match func(*keyspacepb.KeyspaceMeta) bool) *keyspacepb.KeyspaceMeta {
	for _, ks := range k.p.meta.all() {
		if match(ks) {
			return ks
		}
	}
	return nil
}

func (k *keyspaceServer) loadResp(ks *keyspacepb.KeyspaceMeta, what string) *keyspacepb.LoadKeyspaceResponse {
	if ks == nil {
		return &keyspacepb.LoadKeyspaceResponse{Header: k.p.errHeader(pdpb.ErrorType_ENTRY_NOT_FOUND, "keyspace "+what+" not found")}
	}
	return &keyspacepb.LoadKeyspaceResponse{Header: k.p.header(), Keyspace: ks}
}

// LoadKeyspace returns a keyspace by name ("" means DEFAULT).
func (k *keyspaceServer) LoadKeyspace(_ context.Context, req *keyspacepb.LoadKeyspaceRequest) (*keyspacepb.LoadKeyspaceResponse, error) {
	name := req.Name
	if name == "" {
		name = "DEFAULT"
	}
	return k.loadResp(k.find(func(ks *keyspacepb.KeyspaceMeta) bool { return ks.Name == name }), name), nil
}

// LoadKeyspaceByID returns a keyspace by ID.
func (k *keyspaceServer) LoadKeyspaceByID(_ context.Context, req *keyspacepb.LoadKeyspaceByIDRequest) (*keyspacepb.LoadKeyspaceResponse, error) {
	return k.loadResp(k.find(func(ks *keyspacepb.KeyspaceMeta) bool { return ks.GetId() == req.GetId() }), fmt.Sprint(req.GetId())), nil
}

// GetAllKeyspaces lists keyspaces from an ID.
func (k *keyspaceServer) GetAllKeyspaces(_ context.Context, req *keyspacepb.GetAllKeyspacesRequest) (*keyspacepb.GetAllKeyspacesResponse, error) {
	resp := &keyspacepb.GetAllKeyspacesResponse{Header: k.p.header()}
	for _, ks := range k.p.meta.all() {
		if ks.GetId() < req.GetStartId() || (req.Limit > 0 && len(resp.Keyspaces) >= int(req.Limit)) {
			continue
		}
		resp.Keyspaces = append(resp.Keyspaces, ks)
	}
	return resp, nil
}

// UpdateKeyspaceState changes a keyspace's state by ID.
func (k *keyspaceServer) UpdateKeyspaceState(_ context.Context, req *keyspacepb.UpdateKeyspaceStateRequest) (*keyspacepb.UpdateKeyspaceStateResponse, error) {
	ks := k.find(func(ks *keyspacepb.KeyspaceMeta) bool { return ks.GetId() == req.GetId() })
	if ks == nil {
		return &keyspacepb.UpdateKeyspaceStateResponse{Header: k.p.errHeader(pdpb.ErrorType_ENTRY_NOT_FOUND, "keyspace not found")}, nil
	}
	if err := k.p.c.SetKeyspaceState(ks.Name, req.State); err != nil {
		return nil, err
	}
	ks.State = req.State
	return &keyspacepb.UpdateKeyspaceStateResponse{Header: k.p.header(), Keyspace: ks}, nil
}

// WatchKeyspaces sends every keyspace, then again after each change, until the client
// leaves or the server stops.
func (k *keyspaceServer) WatchKeyspaces(_ *keyspacepb.WatchKeyspacesRequest, stream keyspacepb.Keyspace_WatchKeyspacesServer) error {
	m := k.p.meta
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	m.watchers[ch] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.watchers, ch)
		m.mu.Unlock()
	}()
	for {
		if err := stream.Send(&keyspacepb.WatchKeyspacesResponse{Header: k.p.header(), Keyspaces: m.all()}); err != nil {
			return nil
		}
		select {
		case <-ch:
		case <-stream.Context().Done():
			return nil
		}
	}
}
