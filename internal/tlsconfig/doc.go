// Package tlsconfig builds client *tls.Config values whose certificate, key and CA bundle
// are re-read from disk when the files change, so that certificates can be rotated
// without restarting the process.
//
// # Model
//
// A Loader remembers three paths (CA, certificate, key). It never starts a goroutine and
// never polls: every TLS handshake asks the Loader for the current material, and the
// Loader stats the files (a few microseconds, and handshakes are rare) and re-reads them
// when a size or modification time differs from what it loaded last. A rotation that
// writes a broken file keeps the last good material in use and reports the error on the
// handshake only when no good material was ever loaded.
//
// The CA bundle cannot be swapped inside crypto/tls, so the Config returned by
// ClientConfig turns off the library's own verification (InsecureSkipVerify) and verifies
// the server chain itself in VerifyConnection, against the current CA pool and the server
// name, exactly as crypto/tls would. Verification is never skipped.
//
// kv/rpc (TiKV connections) and kv/pd (PD connections) share this package.
package tlsconfig
