package upload

import "syscall"

// errNOSPC is matched with errors.Is to turn a full disk into meta.ErrNoSpace.
var errNOSPC error = syscall.ENOSPC
