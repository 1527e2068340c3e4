//go:build !linux

package resources

import "errors"

var errNoDetect = errors.New("resources: detection is only implemented on Linux")

func totalMemory() (int64, error) { return 0, errNoDetect }

func filesystemSize(string) (int64, error) { return 0, errNoDetect }
