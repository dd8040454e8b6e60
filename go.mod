module github.com/switchback/switchback

go 1.26

require (
	github.com/aws/aws-lambda-go v1.55.1
	github.com/go-sql-driver/mysql v1.10.1
)

require filippo.io/edwards25519 v1.2.0 // indirect
