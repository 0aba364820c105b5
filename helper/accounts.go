package helper

// Accounts lists the accounts cached for this auth host (for completion).
func (h *Helper) Accounts() ([]string, error) { return h.accounts() }
