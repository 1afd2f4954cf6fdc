//go:build receiptd_prod

package main

// devCommands is empty in the production build: demo and bench, and the
// packages only they need, are not linked. Asked for, they say so
// (notInThisBuild).
func devCommands() []command { return nil }
