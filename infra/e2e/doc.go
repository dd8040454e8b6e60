// Package e2e holds the end-to-end test of switchback's deployed shape
// (e2e_test.go, build tag integration): the synthesized stack's own rules
// and functions run on one machine against a switchover on two real MariaDB
// servers. Run it with
//
//	CI=true go test -tags integration -count=1 ./infra/e2e/
package e2e
