//go:build !linux

package loadgen

// InMemoryFS reports whether dir is on a file system kept in memory; it
// cannot tell on this system and says no.
func InMemoryFS(dir string) bool { return false }
