package driver_test

import (
	"testing"

	"github.com/tikvsql/tikvsql/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.VerifyTestMain(m)
}
