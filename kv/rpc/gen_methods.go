//go:build ignore

// gen_methods writes methods_gen.go, the table of typed TiKV methods. Run it with
// `go generate ./kv/rpc`. Each row names the gRPC method of tikvpb.Tikv, the kvrpcpb
// request and response types, the field number of the command in
// BatchCommandsRequest.Request's oneof (0: not carried by the stream, unary only) and
// whether the request has a kvrpcpb.Context.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"log"
	"os"
)

type row struct {
	rpc, req, resp string
	field          int
	ctx            bool
	doc            string
}

var rows = []row{
	{"KvGet", "GetRequest", "GetResponse", 1, true, "reads one key at a timestamp"},
	{"KvScan", "ScanRequest", "ScanResponse", 2, true, "reads a key range at a timestamp"},
	{"KvPrewrite", "PrewriteRequest", "PrewriteResponse", 3, true, "writes locks and data, the first phase of 2PC"},
	{"KvCommit", "CommitRequest", "CommitResponse", 4, true, "commits prewritten keys"},
	{"KvCleanup", "CleanupRequest", "CleanupResponse", 6, true, "rolls back or reports the commit of one key's lock"},
	{"KvBatchGet", "BatchGetRequest", "BatchGetResponse", 7, true, "reads many keys at a timestamp"},
	{"KvBatchRollback", "BatchRollbackRequest", "BatchRollbackResponse", 8, true, "rolls back keys of a transaction"},
	{"KvScanLock", "ScanLockRequest", "ScanLockResponse", 9, true, "lists locks older than a timestamp"},
	{"KvResolveLock", "ResolveLockRequest", "ResolveLockResponse", 10, true, "commits or rolls back the locks of transactions"},
	{"KvGC", "GCRequest", "GCResponse", 11, true, "asks a region to collect versions older than the safe point"},
	{"KvDeleteRange", "DeleteRangeRequest", "DeleteRangeResponse", 12, true, "deletes every version in a range without a transaction"},
	{"RawGet", "RawGetRequest", "RawGetResponse", 13, true, "reads one raw key"},
	{"RawBatchGet", "RawBatchGetRequest", "RawBatchGetResponse", 14, true, "reads many raw keys"},
	{"RawPut", "RawPutRequest", "RawPutResponse", 15, true, "writes one raw key"},
	{"RawBatchPut", "RawBatchPutRequest", "RawBatchPutResponse", 16, true, "writes many raw keys"},
	{"RawDelete", "RawDeleteRequest", "RawDeleteResponse", 17, true, "deletes one raw key"},
	{"RawBatchDelete", "RawBatchDeleteRequest", "RawBatchDeleteResponse", 18, true, "deletes many raw keys"},
	{"RawScan", "RawScanRequest", "RawScanResponse", 19, true, "reads a raw key range"},
	{"RawDeleteRange", "RawDeleteRangeRequest", "RawDeleteRangeResponse", 20, true, "deletes a raw key range"},
	{"RawBatchScan", "RawBatchScanRequest", "RawBatchScanResponse", 21, true, "reads several raw key ranges"},
	{"KvPessimisticLock", "PessimisticLockRequest", "PessimisticLockResponse", 23, true, "acquires pessimistic locks"},
	{"KVPessimisticRollback", "PessimisticRollbackRequest", "PessimisticRollbackResponse", 24, true, "releases pessimistic locks"},
	{"KvCheckTxnStatus", "CheckTxnStatusRequest", "CheckTxnStatusResponse", 25, true, "reads (and may roll back) a transaction's primary lock"},
	{"KvTxnHeartBeat", "TxnHeartBeatRequest", "TxnHeartBeatResponse", 26, true, "extends the TTL of a primary lock"},
	{"KvCheckSecondaryLocks", "CheckSecondaryLocksRequest", "CheckSecondaryLocksResponse", 33, true, "checks the secondary locks of an async-commit transaction"},
	{"KvFlashbackToVersion", "FlashbackToVersionRequest", "FlashbackToVersionResponse", 35, true, "rewrites a range to an older version"},
	{"KvPrepareFlashbackToVersion", "PrepareFlashbackToVersionRequest", "PrepareFlashbackToVersionResponse", 36, true, "blocks writes to a range before a flashback"},
	{"KvFlush", "FlushRequest", "FlushResponse", 37, true, "writes a batch of a pipelined (large) transaction"},
	{"KvBufferBatchGet", "BufferBatchGetRequest", "BufferBatchGetResponse", 38, true, "reads a pipelined transaction's flushed buffer"},
	{"GetHealthFeedback", "GetHealthFeedbackRequest", "GetHealthFeedbackResponse", 39, true, "asks a store for its health feedback"},
	{"BroadcastTxnStatus", "BroadcastTxnStatusRequest", "BroadcastTxnStatusResponse", 40, true, "tells a store the final status of transactions"},
	{"RawGetKeyTTL", "RawGetKeyTTLRequest", "RawGetKeyTTLResponse", 0, true, "reads the remaining TTL of a raw key"},
	{"RawCompareAndSwap", "RawCASRequest", "RawCASResponse", 0, true, "atomically replaces a raw value that equals an expected one"},
	{"RawChecksum", "RawChecksumRequest", "RawChecksumResponse", 0, true, "computes a checksum of raw key ranges"},
	{"UnsafeDestroyRange", "UnsafeDestroyRangeRequest", "UnsafeDestroyRangeResponse", 0, true, "drops a range's data on one store, bypassing Raft (GC)"},
	{"PhysicalScanLock", "PhysicalScanLockRequest", "PhysicalScanLockResponse", 0, true, "scans a store's locks directly (GC)"},
	{"SplitRegion", "SplitRegionRequest", "SplitRegionResponse", 0, true, "splits a region at keys"},
	{"ReadIndex", "ReadIndexRequest", "ReadIndexResponse", 0, true, "asks the leader for a read index"},
	{"MvccGetByKey", "MvccGetByKeyRequest", "MvccGetByKeyResponse", 0, true, "returns every MVCC version of a key (diagnostics)"},
	{"MvccGetByStartTs", "MvccGetByStartTsRequest", "MvccGetByStartTsResponse", 0, true, "returns the MVCC versions a transaction wrote (diagnostics)"},
	{"GetLockWaitInfo", "GetLockWaitInfoRequest", "GetLockWaitInfoResponse", 0, true, "lists pessimistic lock waits on a store"},
	{"GetStoreSafeTS", "StoreSafeTSRequest", "StoreSafeTSResponse", 0, false, "reads a store's safe timestamp for a key range (stale reads)"},
	{"CheckLeader", "CheckLeaderRequest", "CheckLeaderResponse", 0, false, "checks which regions a store leads"},
}

func main() {
	var b bytes.Buffer
	b.WriteString("// Code generated by gen_methods.go; DO NOT EDIT.\n\npackage rpc\n\n")
	b.WriteString("import \"github.com/pingcap/kvproto/pkg/kvrpcpb\"\n\n")
	b.WriteString("// The typed methods of tikvpb.Tikv that clients use. Each is an immutable descriptor.\nvar (\n")
	for _, r := range rows {
		how := "carried by the BatchCommands stream"
		if r.field == 0 {
			how = "unary only"
		}
		fmt.Fprintf(&b, "\t// %s %s (%s).\n", r.rpc, r.doc, how)
		ctx := "nil"
		if r.ctx {
			ctx = fmt.Sprintf("func(r *kvrpcpb.%s) **kvrpcpb.Context { return &r.Context }", r.req)
		}
		fmt.Fprintf(&b, "\t%s = &Method[*kvrpcpb.%s, *kvrpcpb.%s]{name: %q, path: %q, batchField: %d,\n\t\tnewResp: func() *kvrpcpb.%s { return new(kvrpcpb.%s) },\n\t\treqContext: %s}\n",
			r.rpc, r.req, r.resp, r.rpc, "/tikvpb.Tikv/"+r.rpc, r.field, r.resp, r.resp, ctx)
	}
	b.WriteString(")\n\n// methodNames lists every generated method's name, in table order.\nvar methodNames = []string{\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "\t%q,\n", r.rpc)
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("methods_gen.go", src, 0o644); err != nil {
		log.Fatal(err)
	}
}
