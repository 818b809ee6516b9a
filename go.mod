module github.com/quicksilver-go/quicksilver

go 1.26.8

require (
	github.com/cockroachdb/datadriven v1.0.3 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	go.etcd.io/bbolt v1.4.3
	golang.org/x/sys v0.29.0 // indirect
)
