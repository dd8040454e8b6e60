// Command infra is switchback's CDK v2 app: `go run ./infra` (or `cdk synth`,
// which runs it through cdk.json) synthesizes the stack into cdk.out/ without
// AWS credentials. Configuration is CDK context (see infra/README.md); the
// functions must be built first (make build-functions). cdk-nag's
// AwsSolutions checks run on every synth and an unsuppressed error fails it.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/switchback/switchback/infra/stack"
)

func main() {
	os.Exit(run())
}

func run() int {
	defer jsii.Close()
	props := &awscdk.AppProps{}
	// `cdk synth -o DIR` sets CDK_OUTDIR; only without it pick cdk.out.
	if os.Getenv("CDK_OUTDIR") == "" {
		props.Outdir = jsii.String("cdk.out")
	}
	// Run by the CDK CLI, context arrives in CDK_CONTEXT_JSON; run as
	// `go run ./infra`, it is read from cdk.json (and cdk.context.json).
	if os.Getenv("CDK_CONTEXT_JSON") == "" {
		ctx, err := fileContext("cdk.json", "cdk.context.json")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		props.Context = &ctx
	}
	app := awscdk.NewApp(props)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)

	buildDir := os.Getenv("SWITCHBACK_BUILD_DIR")
	if buildDir == "" {
		buildDir = "build"
	}
	buildDir, err := filepath.Abs(buildDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var env *awscdk.Environment
	if acct, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION"); acct != "" && region != "" {
		env = &awscdk.Environment{Account: jsii.String(acct), Region: jsii.String(region)}
	}
	if _, err := stack.New(app, "Switchback", &stack.Props{
		StackProps: awscdk.StackProps{Env: env, Description: jsii.String("switchback: reverse replication and safe rollback for Aurora MySQL blue/green")},
		BuildDir:   buildDir,
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	asm := app.Synth(nil)
	failed := false
	for _, st := range *asm.Stacks() {
		for _, m := range *st.Messages() {
			if m.Level == cxapi.SynthesisMessageLevel_ERROR {
				failed = true
				fmt.Fprintf(os.Stderr, "%s: %s: %v\n", *st.StackName(), *m.Id, m.Entry.Data)
			}
		}
	}
	if failed {
		fmt.Fprintln(os.Stderr, "synth failed: unsuppressed errors (cdk-nag AwsSolutions) above")
		return 1
	}
	fmt.Fprintf(os.Stderr, "synthesized into %s\n", *asm.Directory())
	return 0
}

// fileContext merges the "context" of cdk.json with cdk.context.json (the
// CLI's order: the latter wins), missing files skipped.
func fileContext(cdkJSON, cdkContextJSON string) (map[string]any, error) {
	ctx := map[string]any{}
	if data, err := os.ReadFile(cdkJSON); err == nil {
		var f struct {
			Context map[string]any `json:"context"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", cdkJSON, err)
		}
		for k, v := range f.Context {
			ctx[k] = v
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if data, err := os.ReadFile(cdkContextJSON); err == nil {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", cdkContextJSON, err)
		}
		for k, v := range m {
			ctx[k] = v
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return ctx, nil
}
