package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pingcap/badger"
	badgeropts "github.com/pingcap/badger/options"
	usconf "github.com/pingcap/tidb/pkg/store/mockstore/unistore/config"
	"github.com/pingcap/tidb/pkg/store/mockstore/unistore/lockstore"
	uspd "github.com/pingcap/tidb/pkg/store/mockstore/unistore/pd"
	"github.com/pingcap/tidb/pkg/store/mockstore/unistore/tikv"
	"github.com/pingcap/tidb/pkg/store/mockstore/unistore/tikv/mvcc"
)

// engine is unistore's transactional MVCC engine (badger plus an in-memory
// lock table), shared by every store view of the process.
type engine struct {
	conf   *usconf.Config
	bundle *mvcc.DBBundle
	mvcc   *tikv.MVCCStore
	inner  *tikv.StandAlongInnerServer
	tmpDir string // removed on close when the engine is volatile
}

// openEngine opens the engine. With an empty dataDir badger runs in volatile
// mode in a temporary directory (data is lost on exit); otherwise its files
// live under dataDir/kv.
func openEngine(ctx context.Context, dataDir string, pdc uspd.Client) (*engine, error) {
	conf := usconf.DefaultConf
	conf.Engine.ValueThreshold = 0
	conf.Server.Raft = false
	e := &engine{conf: &conf}
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "devcluster-store-")
		if err != nil {
			return nil, err
		}
		e.tmpDir, dataDir = dir, dir
		conf.Engine.VolatileMode = true
		conf.Engine.MaxMemTableSize = 16 << 20
		conf.Engine.SyncWrite = false
		conf.Engine.NumCompactors = 1
		conf.Engine.CompactL0WhenClose = false
		conf.Engine.VlogFileSize = 16 << 20
	}
	conf.Engine.DBPath = dataDir
	safePoint := &tikv.SafePoint{}
	db, err := openBadger(&conf.Engine, safePoint)
	if err != nil {
		e.removeTmp()
		return nil, fmt.Errorf("open badger: %w", err)
	}
	physical, logical, err := pdc.GetTS(ctx)
	if err != nil {
		_ = db.Close()
		e.removeTmp()
		return nil, fmt.Errorf("get TSO: %w", err)
	}
	e.bundle = &mvcc.DBBundle{
		DB:        db,
		LockStore: lockstore.NewMemStore(8 << 20),
		StateTS:   uint64(physical)<<18 + uint64(logical),
	}
	e.inner = tikv.NewStandAlongInnerServer(e.bundle)
	e.inner.Setup(pdc)
	e.mvcc = tikv.NewMVCCStore(&conf, e.bundle, dataDir, safePoint, tikv.NewDBWriter(e.bundle), pdc)
	e.mvcc.DeadlockDetectSvr.ChangeRole(tikv.Leader)
	if err := e.inner.Start(pdc); err != nil {
		_ = e.mvcc.Close()
		_ = db.Close()
		e.removeTmp()
		return nil, err
	}
	e.mvcc.StartDeadlockDetection(false)
	return e, nil
}

// openBadger opens badger with unistore's engine settings.
func openBadger(conf *usconf.Engine, safePoint *tikv.SafePoint) (*badger.DB, error) {
	opts := badger.DefaultOptions
	opts.Dir = filepath.Join(conf.DBPath, "kv")
	opts.ValueDir = opts.Dir
	opts.ManagedTxns = true
	opts.NumCompactors = conf.NumCompactors
	opts.ValueThreshold = conf.ValueThreshold
	opts.ValueLogWriteOptions.WriteBufferSize = 4 << 20
	opts.ValueLogFileSize = conf.VlogFileSize
	opts.ValueLogMaxNumFiles = 3
	opts.MaxMemTableSize = conf.MaxMemTableSize
	opts.TableBuilderOptions.MaxTableSize = conf.MaxTableSize
	opts.NumMemtables = conf.NumMemTables
	opts.NumLevelZeroTables = conf.NumL0Tables
	opts.NumLevelZeroTablesStall = conf.NumL0TablesStall
	opts.LevelOneSize = conf.L1Size
	opts.SyncWrites = conf.SyncWrite
	levels := make([]badgeropts.CompressionType, len(opts.TableBuilderOptions.CompressionPerLevel))
	for i := range levels {
		if i < len(conf.Compression) {
			levels[i] = usconf.ParseCompression(conf.Compression[i])
		}
	}
	opts.TableBuilderOptions.CompressionPerLevel = levels
	opts.MaxBlockCacheSize = conf.BlockCacheSize
	opts.MaxIndexCacheSize = conf.IndexCacheSize
	opts.TableBuilderOptions.SuRFStartLevel = conf.SurfStartLevel
	opts.CompactionFilterFactory = safePoint.CreateCompactionFilter
	opts.CompactL0WhenClose = conf.CompactL0WhenClose
	opts.VolatileMode = conf.VolatileMode
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, err
	}
	return badger.Open(opts)
}

func (e *engine) removeTmp() {
	if e.tmpDir != "" {
		_ = os.RemoveAll(e.tmpDir)
	}
}
