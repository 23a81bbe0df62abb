// Command shopbus is a self-hosted checkout backend: one executable that
// takes orders over HTTP and fans each order's state changes out, through an
// in-process event bus routed by config.yaml, to inventory, shipping,
// payment, CRM and email.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/fault"
)

// defaultConfig is config.yaml as built into the binary: what runs when no
// --config is given.
//
//go:embed config.yaml
var defaultConfig []byte

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// commitID is set by make with -ldflags "-X main.commitID=...": the go
// command's own record of the revision is missing in some checkouts (a
// git worktree, a build in a container without .git).
var commitID = ""

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// exitStatus is the one table from error codes to exit statuses: what the
// user gave was wrong (a flag, a pattern, an event, the config) is 2,
// anything else 1.
var exitStatus = map[fault.Code]int{fault.Invalid: 2}

// run executes a command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "shopbus:", err)
	if status, ok := exitStatus[fault.CodeOf(err)]; ok {
		return status
	}
	return 1
}

// loader reads the config a command runs with. Every failure to read or
// validate it is invalid input.
type loader func() (*config.Config, error)

func rootCmd() *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:           "shopbus",
		Short:         "A self-hosted checkout backend with an EventBridge-style event bus",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fault.Wrap(fault.Invalid, err) })
	root.PersistentFlags().StringVar(&configPath, "config", "", "config file (default: ./config.yaml if it exists, else the built-in one)")
	// Every command that reads the config says on stderr which file it
	// read: a config.yaml in the working directory wins over the built-in
	// one, and a checked file must be the file that was edited.
	load := func() (*config.Config, error) {
		path := config.Choose(configPath)
		cfg, err := config.Load(path, defaultConfig)
		if err != nil {
			return nil, fault.Wrap(fault.Invalid, err) // Load validates: a bad config is the user's to fix
		}
		fmt.Fprintf(root.ErrOrStderr(), "shopbus: config %s\n", cfg.File)
		return cfg, nil
	}
	root.AddCommand(serveCmd(load), migrateCmd(load), apikeyCmd(load), stockCmd(load), rulesCmd(load),
		eventsCmd(load), dlqCmd(load), backupCmd(load), restoreCmd(load), versionCmd())
	return root
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, its commit, the Go it was built with and the schema it expects",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, "shopbus", version)
			fmt.Fprintln(w, "commit ", commit())
			fmt.Fprintln(w, "go     ", runtime.Version())
			fmt.Fprintln(w, "schema ", schemaVersion())
		},
	}
}

// commit is the revision the binary was built from: as make passes it, or
// as the go command records it when it builds inside a git checkout
// ("+dirty" when the work tree had changes), or "unknown".
func commit() string {
	if commitID != "" {
		return commitID
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	if rev == "" {
		return "unknown"
	}
	return rev + dirty
}
