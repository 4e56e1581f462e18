// Command ferretdb-server runs FerretDB v1.24 embedded, as a MongoDB-wire server for tests.
//
// It embeds github.com/FerretDB/FerretDB/ferretdb instead of building cmd/ferretdb: when FerretDB is
// not the main module its build/version check (which needs the generated version.txt) is skipped.
// Telemetry: the embedded package never starts the telemetry reporter and disables it explicitly.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27018", "TCP address to listen on (loopback only)")
	backend := flag.String("backend", "sqlite", "backend: sqlite or postgresql")
	sqliteDir := flag.String("sqlite-dir", "", "directory for the SQLite backend's files (created if missing)")
	postgresqlURL := flag.String("postgresql-url", "", "PostgreSQL URL for the postgresql backend, e.g. postgres://127.0.0.1:5432/ferretdb")
	logLevel := flag.String("log-level", "error", "log level: debug, info, warn or error (warn logs every error reply in full)")
	flag.Parse()

	if err := run(*listen, *backend, *sqliteDir, *postgresqlURL, *logLevel); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-server:", err)
		os.Exit(1)
	}
}

func run(listen, backend, sqliteDir, postgresqlURL, logLevel string) error {
	if err := checkLoopback(listen); err != nil {
		return err
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	conf := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: listen},
		Logger:   logger,
		Handler:  backend,
	}

	switch backend {
	case "sqlite":
		if sqliteDir == "" {
			return fmt.Errorf("--sqlite-dir is required with --backend sqlite")
		}
		dir, err := filepath.Abs(sqliteDir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		// FerretDB wants a "file:" URI naming an existing directory, ending with "/".
		conf.SQLiteURL = "file:" + dir + "/"
	case "postgresql":
		if postgresqlURL == "" {
			return fmt.Errorf("--postgresql-url is required with --backend postgresql")
		}
		conf.PostgreSQLURL = postgresqlURL
	default:
		return fmt.Errorf("--backend must be sqlite or postgresql, got %q", backend)
	}

	f, err := ferretdb.New(conf)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	fmt.Fprintf(os.Stderr, "ferretdb-server: %s backend, listening on mongodb://%s/ (pid %d)\n", backend, listen, os.Getpid())
	err = f.Run(ctx)
	fmt.Fprintln(os.Stderr, "ferretdb-server: stopped")
	return err
}

// checkLoopback refuses any listen address that is not a literal loopback IP (or "localhost").
func checkLoopback(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %q: only loopback addresses (127.0.0.0/8, ::1) are allowed", listen)
	}
	return nil
}
