// Package telemetry sets up OpenTelemetry tracing for the tokenserver
// command from the standard OTEL_* environment variables, and holds the
// pieces that need the SDK: the HTTP server-span middleware and the
// password hasher's span observer. The libraries take a
// trace.TracerProvider in their Config and make their own spans (grant,
// signing, PostgreSQL statements, Redis commands); nothing here is global.
package telemetry
