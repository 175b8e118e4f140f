package loadgen

import "syscall"

// tmpfsMagic is the f_type of a tmpfs file system (linux/magic.h).
const tmpfsMagic = 0x01021994

// InMemoryFS reports whether dir is on a file system kept in memory
// (tmpfs), where fsync costs nothing.
func InMemoryFS(dir string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == tmpfsMagic
}
