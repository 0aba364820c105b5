// Command floor-tokenurl is the floor of the endpoint's token URL: a bare
// net/http server on loopback that answers every request with the same
// JSON, with nothing read, checked or refreshed. It prints its URL.
//
//	floor-tokenurl BODY
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	body := []byte(os.Args[1])
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	fmt.Printf("http://%s/\n", l.Addr())
	http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(body)
	}))
}
