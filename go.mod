module github.com/tikvsql/tikvsql

go 1.26.8

require (
	github.com/pingcap/kvproto v0.0.0-20260724054804-059694ae4472
	go.uber.org/goleak v1.3.0
	google.golang.org/grpc v1.82.1
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	golang.org/x/net v0.53.0 // indirect
	golang.org/x/sys v0.43.0 // indirect
	golang.org/x/text v0.36.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260414002931-afd174a4e478 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
