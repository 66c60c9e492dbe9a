package region_test

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/pd"
	"github.com/tikvsql/tikvsql/kv/region"
)

// oneRegion is a PD with one region on one store, enough for the example.
type oneRegion struct{}

var theRegion = &pd.Region{
	Meta: &metapb.Region{Id: 1, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
		Peers: []*metapb.Peer{{Id: 11, StoreId: 1}}},
	Leader: &metapb.Peer{Id: 11, StoreId: 1},
}

func (oneRegion) GetRegion(context.Context, []byte, ...pd.RegionOption) (*pd.Region, error) {
	return theRegion, nil
}
func (oneRegion) GetPrevRegion(context.Context, []byte, ...pd.RegionOption) (*pd.Region, error) {
	return nil, pd.ErrRegionNotFound
}
func (oneRegion) GetRegionByID(context.Context, uint64, ...pd.RegionOption) (*pd.Region, error) {
	return theRegion, nil
}
func (oneRegion) BatchScanRegions(context.Context, []kv.KeyRange, int, ...pd.RegionOption) ([]*pd.Region, error) {
	return []*pd.Region{theRegion}, nil
}
func (oneRegion) GetStore(_ context.Context, id uint64) (*metapb.Store, error) {
	return &metapb.Store{Id: id, Address: "tikv-1:20160"}, nil
}

// A Sender wired to an RPC layer through a Mux: one Handle per request type.
func ExampleSend() {
	m := &region.Mux{}
	region.Handle(m, func(ctx context.Context, addr string, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
		// kv/rpc would send req to addr here.
		return &kvrpcpb.RawGetResponse{Value: []byte("value of " + string(req.Key) + " from " + addr)}, nil
	})
	cache := region.New(oneRegion{}, region.Config{Prober: m})
	defer cache.Close()
	sender := region.NewSender(cache, m, region.SenderConfig{})

	resp, err := region.Send[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse](context.Background(), sender,
		[]byte("k"), &kvrpcpb.RawGetRequest{Key: []byte("k")}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(resp.Value))
	// Output: value of k from tikv-1:20160
}
