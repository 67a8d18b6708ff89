// The pod sandbox ("pause") container of the test node: it holds the pod's namespaces and waits for a signal.
// Built by cluster/build.sh (no registry can be pulled from here).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
