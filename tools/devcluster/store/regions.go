package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	uspd "github.com/pingcap/tidb/pkg/store/mockstore/unistore/pd"
	"github.com/pingcap/tidb/pkg/util/codec"
)

// storeVersion is the TiKV version the stores report to PD.
const storeVersion = "8.5.6"

// region is one region of the cluster. Its metadata is never mutated after
// it is published: a split or a leader change publishes a new *region, and
// requests that already hold the old one finish with it. It implements
// unistore's tikv.RegionCtx.
type region struct {
	meta     *metapb.Region
	leader   uint64 // store ID of the leader peer
	rawStart []byte
	rawEnd   []byte
	diff     int64
	latches  *latchTable
}

// Meta returns the region metadata.
func (r *region) Meta() *metapb.Region { return r.meta }

// Diff returns the size-change counter unistore updates on writes.
func (r *region) Diff() *int64 { return &r.diff }

// RawStart returns the decoded (user key) start of the region.
func (r *region) RawStart() []byte { return r.rawStart }

// RawEnd returns the decoded end of the region; the last region ends before
// the 0xFF internal key space, like unistore's own regions.
func (r *region) RawEnd() []byte { return r.rawEnd }

// AcquireLatches blocks until the caller holds the latches of hashVals.
func (r *region) AcquireLatches(hashVals []uint64) { r.latches.acquire(hashVals) }

// ReleaseLatches releases latches taken by AcquireLatches.
func (r *region) ReleaseLatches(hashVals []uint64) { r.latches.release(hashVals) }

// leaderPeer returns the peer of the leader store.
func (r *region) leaderPeer() *metapb.Peer {
	for _, p := range r.meta.GetPeers() {
		if p.GetStoreId() == r.leader {
			return p
		}
	}
	return nil
}

// decodeBound decodes a memcomparable region bound into the user key space.
// Region bounds that are not memcomparable (raw-mode splits) are used as is.
func decodeBound(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if _, raw, err := codec.DecodeBytes(b, nil); err == nil {
		return raw
	}
	return b
}

func newRegion(meta *metapb.Region, leader uint64, latches *latchTable) *region {
	r := &region{meta: meta, leader: leader, latches: latches}
	r.rawStart = decodeBound(meta.GetStartKey())
	r.rawEnd = decodeBound(meta.GetEndKey())
	if len(r.rawEnd) == 0 {
		r.rawEnd = []byte{0xFF}
	}
	return r
}

// cluster owns the regions and stores of the process and keeps PD informed.
// Every store is a view (storeView) of this one cluster over one engine.
type cluster struct {
	pdc uspd.Client
	// streams holds one PD client per store: PD binds a region heartbeat
	// stream to the store leading the regions reported on it and sends that
	// store's operators there, so each store reports its own regions on
	// its own stream, as every TiKV does.
	streams map[uint64]uspd.Client
	latches *latchTable

	splitMu sync.Mutex // serialises splits (ID allocation happens outside mu)

	mu      sync.RWMutex
	stores  []*metapb.Store
	regions map[uint64]*region

	ops     chan *pdpb.RegionHeartbeatResponse
	closeCh chan struct{}
	wg      sync.WaitGroup
}

// allocIDs asks PD for n fresh IDs.
func allocIDs(ctx context.Context, pdc uspd.Client, n int) ([]uint64, error) {
	ids := make([]uint64, n)
	for i := range ids {
		id, err := pdc.AllocID(ctx)
		if err != nil {
			return nil, fmt.Errorf("alloc ID from PD: %w", err)
		}
		ids[i] = id
	}
	return ids, nil
}

// bootstrapCluster registers one store per address with a fresh PD,
// bootstraps the first region with a peer on every store (leader on the
// first), splits it at splitKeys (region key space) and starts the
// heartbeat loops. PD must not have been bootstrapped before.
func bootstrapCluster(ctx context.Context, pdc uspd.Client, dial func() (uspd.Client, error),
	addrs []string, statusAddrs []string, splitKeys [][]byte) (c *cluster, err error) {
	if ok, err := pdc.IsBootstrapped(ctx); err != nil {
		return nil, err
	} else if ok {
		return nil, errors.New("PD is already bootstrapped; start the stores against a fresh PD")
	}
	n := len(addrs)
	ids, err := allocIDs(ctx, pdc, 2*n+1)
	if err != nil {
		return nil, err
	}
	c = &cluster{
		pdc:     pdc,
		streams: map[uint64]uspd.Client{},
		latches: newLatchTable(),
		regions: make(map[uint64]*region),
		ops:     make(chan *pdpb.RegionHeartbeatResponse, 256),
		closeCh: make(chan struct{}),
	}
	now := time.Now().Unix()
	for i, addr := range addrs {
		c.stores = append(c.stores, &metapb.Store{
			Id: ids[i], Address: addr, StatusAddress: statusAddrs[i], Version: storeVersion,
			GitHash: "devcluster", StartTimestamp: now, DeployPath: "/",
		})
	}
	regionID := ids[n]
	first := &metapb.Region{
		Id:          regionID,
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
		Peers:       []*metapb.Peer{{Id: ids[n+1], StoreId: c.stores[0].Id}},
	}
	defer func() {
		if err != nil {
			c.closeStreams()
		}
	}()
	for i, st := range c.stores {
		if i == 0 {
			c.streams[st.Id] = pdc
			continue
		}
		if c.streams[st.Id], err = dial(); err != nil {
			return nil, fmt.Errorf("PD client for store %d: %w", st.Id, err)
		}
	}
	for _, cl := range c.streams {
		cl.SetRegionHeartbeatResponseHandler(c.onHeartbeatResponse)
	}
	if _, err := pdc.Bootstrap(ctx, c.stores[0], first); err != nil {
		return nil, fmt.Errorf("bootstrap PD: %w", err)
	}
	for _, s := range c.stores {
		if err := pdc.PutStore(ctx, s); err != nil {
			return nil, fmt.Errorf("register store %d: %w", s.Id, err)
		}
	}
	// Add the other peers as if by conf changes: one conf version each.
	full := &metapb.Region{Id: regionID, RegionEpoch: &metapb.RegionEpoch{ConfVer: uint64(n), Version: 1}}
	for i, s := range c.stores {
		full.Peers = append(full.Peers, &metapb.Peer{Id: ids[n+1+i], StoreId: s.Id})
	}
	c.publish(newRegion(full, c.stores[0].Id, c.latches))
	if len(splitKeys) > 0 {
		if _, err := c.split(ctx, regionID, splitKeys); err != nil {
			return nil, err
		}
	}
	c.heartbeatStores(ctx)
	c.wg.Add(2)
	go c.heartbeatLoop()
	go c.operatorLoop()
	return c, nil
}

// publish installs r and reports it to PD.
func (c *cluster) publish(rs ...*region) {
	c.mu.Lock()
	for _, r := range rs {
		c.regions[r.meta.Id] = r
	}
	c.mu.Unlock()
	for _, r := range rs {
		c.report(r)
	}
}

// report sends one region heartbeat for r.
func (c *cluster) report(r *region) {
	c.streams[r.leader].ReportRegion(&pdpb.RegionHeartbeatRequest{
		Region:          r.meta,
		Leader:          r.leaderPeer(),
		ApproximateSize: uint64(max(atomic.LoadInt64(&r.diff), 0)>>20) + 1,
		Term:            1,
	})
}

// region returns the current region with the given ID, or nil.
func (c *cluster) region(id uint64) *region {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.regions[id]
}

// store returns the store with the given ID, or nil.
func (c *cluster) store(id uint64) *metapb.Store {
	for _, s := range c.stores {
		if s.Id == id {
			return s
		}
	}
	return nil
}

// split splits region id at keys (region key space); keys outside the
// region or on its start are ignored. As in TiKV, the original region keeps
// its ID for the rightmost part, every part gets version+len(keys), and the
// leader stays on the same store. It returns all resulting regions in key
// order.
func (c *cluster) split(ctx context.Context, id uint64, keys [][]byte) ([]*metapb.Region, error) {
	c.splitMu.Lock()
	defer c.splitMu.Unlock()
	old := c.region(id)
	if old == nil {
		return nil, fmt.Errorf("region %d not found", id)
	}
	var inside [][]byte
	for _, k := range keys {
		if bytes.Compare(k, old.meta.StartKey) > 0 && (len(old.meta.EndKey) == 0 || bytes.Compare(k, old.meta.EndKey) < 0) {
			inside = append(inside, k)
		}
	}
	sort.Slice(inside, func(i, j int) bool { return bytes.Compare(inside[i], inside[j]) < 0 })
	inside = slices.CompactFunc(inside, bytes.Equal)
	if len(inside) == 0 {
		return []*metapb.Region{old.meta}, nil
	}
	peersPer := len(old.meta.Peers)
	ids, err := allocIDs(ctx, c.pdc, len(inside)*(1+peersPer))
	if err != nil {
		return nil, err
	}
	version := old.meta.RegionEpoch.Version + uint64(len(inside))
	bounds := append(append([][]byte{old.meta.StartKey}, inside...), old.meta.EndKey)
	var parts []*region
	for i := 0; i+1 < len(bounds); i++ {
		m := &metapb.Region{
			StartKey:    bounds[i],
			EndKey:      bounds[i+1],
			RegionEpoch: &metapb.RegionEpoch{ConfVer: old.meta.RegionEpoch.ConfVer, Version: version},
		}
		if i == len(bounds)-2 {
			m.Id = id
			m.Peers = old.meta.Peers
		} else {
			base := i * (1 + peersPer)
			m.Id = ids[base]
			for j, p := range old.meta.Peers {
				m.Peers = append(m.Peers, &metapb.Peer{Id: ids[base+1+j], StoreId: p.StoreId, Role: p.Role})
			}
		}
		parts = append(parts, newRegion(m, old.leader, c.latches))
	}
	c.publish(parts...)
	metas := make([]*metapb.Region, len(parts))
	for i, p := range parts {
		metas[i] = p.meta
	}
	return metas, nil
}

// transferLeader moves the leader of region id to storeID.
func (c *cluster) transferLeader(id, storeID uint64) error {
	c.splitMu.Lock()
	defer c.splitMu.Unlock()
	old := c.region(id)
	if old == nil {
		return fmt.Errorf("region %d not found", id)
	}
	if c.store(storeID) == nil {
		return fmt.Errorf("store %d not found", storeID)
	}
	c.publish(newRegion(old.meta, storeID, c.latches))
	return nil
}

// onHeartbeatResponse receives PD's operators; they are executed by
// operatorLoop so the PD client's receive loop never blocks.
func (c *cluster) onHeartbeatResponse(resp *pdpb.RegionHeartbeatResponse) {
	select {
	case c.ops <- resp:
	default: // PD re-sends operators it still wants on the next heartbeat.
	}
}

// operatorLoop executes split and leader-transfer operators from PD.
func (c *cluster) operatorLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.closeCh:
			return
		case resp := <-c.ops:
			c.execute(resp)
		}
	}
}

func (c *cluster) execute(resp *pdpb.RegionHeartbeatResponse) {
	r := c.region(resp.GetRegionId())
	if r == nil || resp.GetRegionEpoch().GetVersion() != r.meta.GetRegionEpoch().GetVersion() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch {
	case resp.GetTransferLeader() != nil:
		_ = c.transferLeader(r.meta.Id, resp.GetTransferLeader().GetPeer().GetStoreId())
	case resp.GetSplitRegion() != nil && len(resp.GetSplitRegion().GetKeys()) > 0:
		_, _ = c.split(ctx, r.meta.Id, resp.GetSplitRegion().GetKeys())
	}
}

// heartbeatLoop keeps stores and regions alive in PD every 5 s.
func (c *cluster) heartbeatLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-c.closeCh:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.heartbeatStores(ctx)
		cancel()
		c.reportAll()
	}
}

// reportAll sends a heartbeat for every region; PD answers pending
// operators (e.g. the splits of a new keyspace) on region heartbeats.
func (c *cluster) reportAll() {
	c.mu.RLock()
	all := make([]*region, 0, len(c.regions))
	for _, r := range c.regions {
		all = append(all, r)
	}
	c.mu.RUnlock()
	for _, r := range all {
		c.report(r)
	}
}

// heartbeatStores sends one store heartbeat per store.
func (c *cluster) heartbeatStores(ctx context.Context) {
	c.mu.RLock()
	count := uint32(len(c.regions))
	c.mu.RUnlock()
	for _, s := range c.stores {
		_ = c.pdc.StoreHeartbeat(ctx, &pdpb.StoreStats{
			StoreId:     s.Id,
			Capacity:    100 << 30,
			Available:   90 << 30,
			UsedSize:    10 << 30,
			RegionCount: count,
			StartTime:   uint32(s.StartTimestamp),
		})
	}
}

// Close stops the heartbeat and operator loops and waits for them.
func (c *cluster) Close() {
	close(c.closeCh)
	c.wg.Wait()
	c.closeStreams()
}

// closeStreams closes the per-store PD clients except the shared one, which
// belongs to the process.
func (c *cluster) closeStreams() {
	for _, cl := range c.streams {
		cl.SetRegionHeartbeatResponseHandler(nil)
		if cl != c.pdc {
			cl.Close()
		}
	}
}

// overlapping returns the current metadata of r and of the regions that were
// split off next to it, so a client with a stale epoch can refresh its cache
// without asking PD (TiKV returns the same set in EpochNotMatch).
func (c *cluster) overlapping(r *region) []*metapb.Region {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := []*metapb.Region{r.meta}
	for _, o := range c.regions {
		if o.meta.Id != r.meta.Id && o.meta.RegionEpoch.Version == r.meta.RegionEpoch.Version &&
			bytes.Equal(o.meta.EndKey, r.meta.StartKey) {
			out = append(out, o.meta)
		}
	}
	return out
}
