package loadgen

import (
	"bufio"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// RSS returns the process's resident memory in bytes: VmRSS from
// /proc/self/status where there is one, else the memory the Go runtime
// holds from the system and has not released.
func RSS() uint64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// settledRSS returns RSS once the memory freed by what ran before has gone
// back to the system: it collects and releases free memory until the
// figure stops falling (by less than 1 MiB), two seconds at most.
func settledRSS() uint64 {
	debug.FreeOSMemory()
	last := RSS()
	for i := 0; i < 20; i++ {
		time.Sleep(100 * time.Millisecond)
		debug.FreeOSMemory()
		n := RSS()
		if n+1<<20 > last {
			return n
		}
		last = n
	}
	return last
}
