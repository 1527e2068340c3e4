module github.com/agora-dev/agora

go 1.26.8

require (
	github.com/chromedp/chromedp v0.23.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
)

tool google.golang.org/protobuf/cmd/protoc-gen-go
