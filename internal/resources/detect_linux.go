package resources

import (
	"fmt"
	"syscall"
)

func totalMemory() (int64, error) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0, fmt.Errorf("resources: sysinfo: %w", err)
	}
	return int64(si.Totalram) * int64(si.Unit), nil
}

func filesystemSize(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("resources: statfs %q: %w", dir, err)
	}
	return int64(st.Blocks) * st.Bsize, nil
}
