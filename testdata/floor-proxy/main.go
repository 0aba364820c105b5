// Command floor-proxy is the floor of the endpoint's API proxy: a bare
// httputil.ReverseProxy on loopback that sends every request to TARGET
// with the token read from its stdin, with nothing checked or refreshed.
// It prints its URL.
//
//	floor-proxy TARGET < TOKEN
package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
)

func main() {
	target, err := url.Parse(os.Args[1])
	if err != nil {
		os.Exit(2)
	}
	token, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	token = strings.TrimSpace(token)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	fmt.Printf("http://%s/\n", l.Addr())
	http.Serve(l, &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Header.Set("Authorization", "Bearer "+token)
	}})
}
