package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// errHelp is returned when the user asked for --help; usage has been printed.
var errHelp = errors.New("help requested")

// newFlagSet returns a FlagSet for a command. Its usage text (printed for
// --help by parseFlags) is the command's description, its usage line and
// every flag.
func newFlagSet(env *cliEnv, name, usage, description string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), env: env}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // the flag package calls it on every parse error; parseFlags prints help itself
	fs.help = func() {
		w := env.stdout
		fmt.Fprintf(w, "Usage: switchback %s %s\n\n%s\n\nFlags:\n", name, usage, strings.TrimSpace(description))
		fs.VisitAll(func(f *flag.Flag) {
			typ, text := flag.UnquoteUsage(f)
			fmt.Fprintf(w, "  --%s %s\n      %s", f.Name, typ, text)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(w)
		})
	}
	return fs
}

// flagSet is a command's flags and its --help printer.
type flagSet struct {
	*flag.FlagSet
	help func()
	env  *cliEnv // where flags print warnings
}

// parseFlags parses args allowing flags before and after positional
// arguments ("explain-event FILE --output json" and "explain-event --output
// json FILE" both work). A lone "-" is a positional argument (stdin).
func parseFlags(fs *flagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.help()
				return nil, errHelp
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// parseFlagsOnly parses args for a command that takes flags and no
// positional arguments.
func parseFlagsOnly(fs *flagSet, args []string) error {
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		// Not quoted: a misplaced DSN would print its password.
		return fmt.Errorf("%w: unexpected argument #%d (this command takes flags only; DSNs go in --production and --rollback)", errUsage, len(positional))
	}
	return nil
}

// positiveDurations checks duration flags that must be more than zero.
func positiveDurations(flags map[string]time.Duration) error {
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		if flags[name] <= 0 {
			return fmt.Errorf("%w: %s %s must be more than zero", errUsage, name, flags[name])
		}
	}
	return nil
}
