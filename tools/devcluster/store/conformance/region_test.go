package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tikv/client-go/v2/tikv"
)

// pdRegion is the part of PD's HTTP region answer the tests read.
type pdRegion struct {
	ID     uint64 `json:"id"`
	Leader struct {
		StoreID uint64 `json:"store_id"`
	} `json:"leader"`
	Peers []struct {
		StoreID uint64 `json:"store_id"`
	} `json:"peers"`
}

func pdHTTP(t *testing.T, method, path string, body any) []byte {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, "http://"+pdAddrs(t)[0]+path, rd)
	must(t, err, "pd request")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	must(t, err, method+" "+path)
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, out.String())
	}
	return out.Bytes()
}

func getPDRegion(t *testing.T, id uint64) pdRegion {
	var r pdRegion
	must(t, json.Unmarshal(pdHTTP(t, http.MethodGet, fmt.Sprintf("/pd/api/v1/region/id/%d", id), nil), &r), "decode region")
	return r
}

// TestLeaderTransferNotLeader moves a region's leader with a PD operator
// while both clients cache the old leader: the store must answer NotLeader
// and the clients must follow it transparently.
func TestLeaderTransferNotLeader(t *testing.T) {
	txn, raw, ctx, p := newTxn(t), newRaw(t), ctxT(t), prefix(t)
	k := []byte(p + "k")
	commitKeys(t, txn, nil, string(k), "before")
	must(t, raw.Put(ctx, k, []byte("raw-before")), "raw put")

	loc, err := txn.GetRegionCache().LocateKey(tikv.NewBackofferWithVars(ctx, 5000, nil), k)
	must(t, err, "locate")
	region := getPDRegion(t, loc.Region.GetID())
	if len(region.Peers) < 2 {
		t.Skip("leader transfer needs a cluster with at least 2 stores")
	}
	target := region.Peers[0].StoreID
	for _, peer := range region.Peers {
		if peer.StoreID != region.Leader.StoreID {
			target = peer.StoreID
		}
	}
	pdHTTP(t, http.MethodPost, "/pd/api/v1/operators", map[string]any{
		"name": "transfer-leader", "region_id": region.ID, "to_store_id": target,
	})
	deadline := time.Now().Add(15 * time.Second)
	for getPDRegion(t, region.ID).Leader.StoreID != target {
		if time.Now().After(deadline) {
			t.Fatalf("leader of region %d did not move to store %d", region.ID, target)
		}
		time.Sleep(100 * time.Millisecond)
	}
	commitKeys(t, txn, nil, string(k), "after")
	if v, ok := readKey(t, txn, string(k)); !ok || v != "after" {
		t.Fatalf("txn read after leader transfer = %q,%v", v, ok)
	}
	must(t, raw.Put(ctx, k, []byte("raw-after")), "raw put after transfer")
	v, err := raw.Get(ctx, k)
	must(t, err, "raw get after transfer")
	if string(v) != "raw-after" {
		t.Fatalf("raw get after leader transfer = %q", v)
	}
}
