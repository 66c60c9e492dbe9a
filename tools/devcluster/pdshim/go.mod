module github.com/tikvsql/tikvsql/tools/devcluster/pdshim

go 1.26.8

require (
	github.com/pingcap/kvproto v0.0.0-20260724054804-059694ae4472
	google.golang.org/grpc v1.63.2
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	golang.org/x/net v0.51.0 // indirect
	golang.org/x/sys v0.41.0 // indirect
	golang.org/x/text v0.34.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20240227224415-6ceb2ff114de // indirect
	google.golang.org/protobuf v1.33.0 // indirect
)
