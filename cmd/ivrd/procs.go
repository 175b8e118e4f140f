package main

import (
	"os"
	"runtime"
	"sync"
)

var spareOnce sync.Once

// spareProc lets the Go scheduler run one more goroutine at a time than
// it would by default, unless GOMAXPROCS is set in the environment. The
// journal's committer spends most of its time waiting in fdatasync, and
// with as many processors as cores the rest of the daemon could not use
// the cores fully meanwhile: on a 2-core machine, ivrd bench (survey,
// 512 calls, journal synced) kept the process at about 1.5 cores and 0.50
// of the ceiling; with one processor more it reached 0.63 to 0.68.
// Called more than once, it raises the count once.
func spareProc() {
	spareOnce.Do(func() {
		if os.Getenv("GOMAXPROCS") != "" {
			return
		}
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	})
}
