package refresh

// fdDir lists the process's open descriptors.
const fdDir = "/proc/self/fd"
