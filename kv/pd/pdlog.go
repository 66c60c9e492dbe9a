package pd

import (
	"sync"

	"github.com/pingcap/log"
	"go.uber.org/zap/zapcore"
)

// The official PD client logs through pingcap/log's process-wide logger, which by
// default writes every INFO line (connections, TSO streams, leader switches) to
// stdout. A library should not fill its users' terminals, so the first New raises that
// logger's level to WARN — but only when the program has not installed its own
// pingcap/log logger (log.ReplaceGlobals), in which case its choices stand.
var (
	defaultPDLogger = log.L()
	quietPDLogOnce  sync.Once
)

func quietPDClientLog() {
	quietPDLogOnce.Do(func() {
		if log.L() == defaultPDLogger && log.GetLevel() < zapcore.WarnLevel {
			log.SetLevel(zapcore.WarnLevel)
		}
	})
}
