package conn

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tikvsql/tikvsql/kv/cluster"
)

// Version is the driver's version, reported by SELECT version().
const Version = "0.1.0"

// clusterVersion describes the driver and the TiKV versions of the cluster's stores,
// for SELECT version(): "tikvsql 0.1.0 (TiKV 8.5.0)".
func clusterVersion(ctx context.Context, c *cluster.Cluster) (string, error) {
	stores, err := c.PD().GetAllStores(ctx)
	if err != nil {
		return "", err
	}
	seen := map[string]bool{}
	var vs []string
	for _, s := range stores {
		if v := s.GetVersion(); v != "" && !seen[v] {
			seen[v] = true
			vs = append(vs, v)
		}
	}
	sort.Strings(vs)
	if len(vs) == 0 {
		return fmt.Sprintf("tikvsql %s", Version), nil
	}
	return fmt.Sprintf("tikvsql %s (TiKV %s)", Version, strings.Join(vs, ", ")), nil
}
